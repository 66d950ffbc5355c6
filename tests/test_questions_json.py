"Question JSON in the seed's format, read as a new user would feed it: through the coconut experiment's `json` source."
import json

import numpy as np
from PIL import Image

from conftest import storylab


def test_missing_image_names_the_file_the_item_and_the_field(home, tmp_path):
    Image.fromarray(np.zeros((64, 128, 3), np.uint8)).save(tmp_path / "photo.png")
    item = {"image": "photo.png", "question": "What is shown? The choices are 0 : a cat, 1 : a dog", "answer": "1"}
    (tmp_path / "q.json").write_text(json.dumps([item, {**item, "image": "images/gone.png"}]))
    res = storylab("storylab-run", "coconut", "--preset", "smoke", "-p", "source", "json", "-p", "json_path", tmp_path / "q.json",
                   check=False)
    assert res.returncode != 0
    assert f"{tmp_path / 'q.json'} item 1: field 'image' names 'images/gone.png'" in res.stderr, res.stderr[-3000:]
