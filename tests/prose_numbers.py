"""Numbers typed by hand in notebook prose: every markdown number with 3 or more significant digits that is not
a parameter value of its notebook and not on the allowlist below. Measured results belong in run records and
reach prose through templates rendered from them (`rec['notes']`, tables, the report)."""
import json, re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Constants, not results: each with why it may be typed.
ALLOWED = {
    "224": "CLIP's input size in pixels",
    "384": "MiniLM's embedding width",
    "768": "GPT-2 small's width",
    "1024": "GPT-2 medium's width",
    "50257": "GPT-2's vocabulary size",
    "1000": "resamples of the bootstrap",
    "255": "the largest 8-bit pixel value",
    "124": "GPT-2 small's size in millions of parameters",
    "355": "GPT-2 medium's size in millions of parameters",
    "0.8751": "seed 001's stage-1 validation NT-Xent, quoted from the seed",
    "0.6160": "seed 001's DPO validation loss, quoted from the seed",
    "99.5": "seed 002's masked token accuracy in percent, quoted from the seed",
    "2.5": "CLIPScore's weight w",
    "784": "the 28×28 pixels of an MNIST digit",
    "512": "CLIP ViT-B/32's joint embedding width",
    "128": "StoryCLIP's feature-map width",
}
NUMBER = re.compile(r"(?<![\w.#/-])[-+−]?\d[\d,]*(?:\.\d+)?(?![\w/])")
SKIP = [re.compile(p) for p in (r"https?://\S+", r"`[^`]*\.(?:py|ipynb|json|txt|md|png)`", r"\b(?:19|20)\d\d-\d\d-\d\d\b",
                                 r"\b(?:19|20)\d\d\b", r"\$[^$]+\$",
                                 r"\d+(?:\.\d+){2,}", r"[Pp]ython ?3\.\d+", r"\{\{[^}]*\}\}")]   # versions, templates


def significant_digits(token: str) -> int:
    "Digits that carry information: leading zeros never do, an integer's trailing zeros are taken as placeholders."
    t = token.lstrip("+-−").replace(",", "")
    if "." in t:
        digits = t.replace(".", "").lstrip("0")
    else:
        digits = t.lstrip("0").rstrip("0")
    return len(digits)


def _values(x):
    if isinstance(x, dict):
        for v in x.values(): yield from _values(v)
    elif isinstance(x, (list, tuple)):
        for v in x: yield from _values(v)
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield x


def parameter_numbers(nb_path: Path) -> set:
    "Every number that the notebook's parameters cell or PRESETS sets, as the strings prose may write it."
    from storylab.runner import notebook_spec, ParameterError
    try: params, presets = notebook_spec(nb_path)
    except (ParameterError, Exception): return set()
    vals = list(_values({k: d["default"] for k, d in params.items()})) + list(_values(presets))
    out = set()
    for v in vals:
        out |= {str(v), f"{v:,}" if isinstance(v, int) else str(v), f"{v:g}"}
        if isinstance(v, float) and v < 1: out.add(f"{v * 100:g}")   # a fraction written as a percentage
    return out


def hand_typed_numbers(nb_path: Path) -> list:
    "(cell index, number, line) for each number in markdown that may be a hand-typed result."
    nb = json.loads(Path(nb_path).read_text())
    allowed = set(ALLOWED) | parameter_numbers(nb_path)
    hits = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "markdown": continue
        for line in "".join(c["source"]).splitlines():
            clean = line
            for p in SKIP: clean = p.sub(" ", clean)
            for m in NUMBER.finditer(clean):
                tok = m.group().rstrip(",")
                if significant_digits(tok) < 3: continue
                if tok.lstrip("+-−") in allowed or tok.lstrip("+-−").replace(",", "") in allowed: continue
                hits.append((i, tok, line.strip()[:160]))
    return hits


def notebooks():
    return sorted((REPO / "nbs").glob("*.ipynb")) + sorted((REPO / "nbs" / "experiments").glob("*.ipynb"))


if __name__ == "__main__":
    total = 0
    for nb in notebooks():
        hits = hand_typed_numbers(nb)
        total += len(hits)
        for i, tok, line in hits: print(f"{nb.relative_to(REPO)} cell {i}: {tok}  | {line}")
    print(f"{total} hand-typed numbers")
