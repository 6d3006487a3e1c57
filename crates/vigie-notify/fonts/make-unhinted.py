"""Removes TrueType hinting from a font and keeps everything else (see README.md)."""
import sys

from fontTools import subset
from fontTools.ttLib import TTFont

src, dst = sys.argv[1], sys.argv[2]
font = TTFont(src)
opts = subset.Options()
opts.hinting = False
opts.glyph_names = True
opts.name_IDs = ["*"]
opts.name_languages = ["*"]
opts.name_legacy = True
opts.layout_features = ["*"]
opts.notdef_glyph = True
opts.notdef_outline = True
opts.recalc_bounds = False
opts.drop_tables = []
s = subset.Subsetter(opts)
s.populate(glyphs=font.getGlyphOrder())
s.subset(font)
font.save(dst)
