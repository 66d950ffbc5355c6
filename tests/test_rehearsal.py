"The gpu rehearsal: every experiment's gpu preset runs to the end on CPU, with the hub ids replaced by local mirrors."
import json
from conftest import storylab

from storylab.mirrors import MIRRORS, REHEARSAL
from storylab.runner import list_experiments


def test_gpu_rehearsal_runs_every_experiment(home):
    res = storylab("storylab-run", "all", "--rehearsal", "--jobs", "2", timeout=1800)
    mirrors = home / "cache" / "mirrors"
    for name in list_experiments():
        run = home / "reports" / "runs" / name / "gpu-rehearsal"
        rec = json.loads((run / "metrics.json").read_text())
        assert rec["preset"] == "gpu", name
        assert rec["figures"] and all((run / "figures" / f["file"]).stat().st_size > 0 for f in rec["figures"]), name
        # every hub id of the run is a mirror's folder, read through the same loader as the hub id
        hub = {k: v for k, v in rec["params"].items() if isinstance(v, str) and v in MIRRORS}
        assert not hub, f"{name} still names hub ids {hub}"
        for k, v in REHEARSAL[name].items():
            if isinstance(v, str) and v.startswith("{"):
                assert rec["params"][k] == str(mirrors / v[1:-1]) and (mirrors / v[1:-1]).is_dir(), (name, k)
    summary = json.loads((home / "reports" / "rehearsal" / "cpu.json").read_text())
    assert all(summary["experiments"][n]["finished"] for n in list_experiments()), summary
    assert "wrote" in res.stdout and not (home / "reports" / "runs" / "all.json").exists()   # the report's timeline is left alone
