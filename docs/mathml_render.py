"""Sphinx HTML math renderer that writes MathML (via latex2mathml) into the page.

Hand-written because Sphinx's own renderers need MathJax from a CDN or a TeX installation, and no maintained
extension emits MathML, which browsers render natively and offline; this only registers latex2mathml with Sphinx.
"""
from docutils import nodes
from latex2mathml.converter import convert


def _inline(self, node):
    self.body.append(f'<span class="math">{convert(node.astext())}</span>')
    raise nodes.SkipNode


def _block(self, node):
    self.body.append(f'<div class="math-block">{convert(node.astext(), display="block")}</div>\n')
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", (_inline, None), (_block, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
