"""Winding decisions (fraction of faces turned, orientation sign of the file and of the turned faces) of
the realworld models and every 10th FAUST_r / 6th TOSCA_r shape. Run from the repository root."""
import sys, glob, numpy as np, warnings; warnings.filterwarnings("ignore")
import shapecorr
from shapecorr.spectral import orientation_sign
files = sorted(glob.glob("/work/shared/data/realworld/*")) + sorted(glob.glob("/work/shared/data/FAUST_r/vtx_5k/*.off"))[::10] + sorted(glob.glob("/work/shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k/*.off"))[::6]
for f in files:
    s = shapecorr.load(f)
    if not s.is_mesh: continue
    w = s.winding
    print(f.split("/")[-1], round(float(w.reversed.mean()), 3), orientation_sign(s.vertices, s.faces), orientation_sign(s.vertices, w.faces))
