"""Spectral points onto a point-cloud target (spot -> spot_posed, and spot -> the posed vertices as a cloud, matched
through its reconstructed surface): the functional map read through the shapes' own bases (before) and through
the proxies' bases (now); mean point error x100 against data/spot/spot_posed_gt_bary.npz."""
import numpy as np, shapecorr
from shapecorr.fmap.precise import spectral_bases, precise_map_arrays, spectral_precise_map
from shapecorr.fmap.prepare import prepare_shape
from shapecorr.fmap.surface import SurfaceMap, surface_seeds
src = shapecorr.load("data/spot/spot.obj"); posed = shapecorr.load("data/spot/spot_posed.obj")
gt = np.load("data/spot/spot_posed_gt_bary.npz"); g = SurfaceMap(gt["face"].astype(int), gt["bary"])
gp = g.points(src.vertices, src.faces)
for tgt in (posed, shapecorr.Shape(posed.vertices, None, name="cloud")):
    m = shapecorr.match(src, tgt)
    def err(sm): return 100 * np.linalg.norm(sm.points(src.vertices, src.faces) - gp, axis=1).mean() / np.sqrt(src.area)
    k2, k1 = m.fmap_12.shape; kb = m.info["k_basis"]; kind = m.settings.get("laplacian", "auto")
    P1 = prepare_shape(src, max(kb[0], k1), laplacian_kind=kind); P2 = prepare_shape(tgt, max(kb[1], k2), laplacian_kind=kind)
    old, _ = precise_map_arrays(m.fmap_12, P1.evecs[:, :k1], P2.evecs[:, :k2], src.faces, m.p2p_21, mass2=P2.mass)
    new = spectral_precise_map(m, src, tgt)
    print(tgt.name, "proxy" if m.info["proxy"] else "direct", "vertex %.3f old-bases %.3f new %.3f" % (err(SurfaceMap.from_vertex_map(m.p2p_21, src.faces, src.vertices)), err(old), err(new)))
