# Sphinx configuration of the storylab site: `make docs` (`python docs/build_site.py`) stages the sources and runs it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

project = "storylab"
author = "storylab developers"
html_title = "storylab"
extensions = ["myst_nb", "mathml_render"]

# The notebooks arrive executed (chapters by docs/build_site.py, experiments by `make report`): never run them here.
nb_execution_mode = "off"
nb_ipywidgets_js = {}                # no widget JavaScript from a CDN: the site works offline
nb_render_markdown_format = "myst"   # show_doc's markdown outputs, parsed like the notebooks' own markdown
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "attrs_inline"]
myst_heading_anchors = 3
myst_dmath_double_inline = True     # `$$...$$` inside a paragraph is display math, as in Jupyter
html_math_renderer = "mathml"        # math as MathML: rendered by the browser, nothing fetched

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
}
html_static_path = ["_static"]
html_css_files = ["storylab.css"]
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None

# The README's Colab snippet uses IPython's `!` inside a python block; Pygments highlights it in relaxed mode.
suppress_warnings = ["misc.highlighting_failure"]

# pydata-sphinx-theme logs a console error on a first visit unless a default colour mode is set; "auto" follows the
# reader's system setting.
html_context = {"default_mode": "auto"}
html_favicon = "_static/favicon.svg"   # else browsers ask for /favicon.ico, a 404 in the console
