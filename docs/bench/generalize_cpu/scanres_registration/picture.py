"""python picture.py DATASET SOURCE TARGET OUT.png (from the repository root; after
pairs_variants.py saved the pair's map): the source, the source deformed onto the target by the
registration through 5000-vertex proxies, and the target, coloured by where the map sends
each target vertex (the source's xyz colours) without and with the registration."""
import sys
from pathlib import Path
import numpy as np
import shapecorr.deform.precise as P
from shapecorr import Shape, load
from shapecorr.eval import Dataset
from shapecorr.render import correspondence_colors, render_shapes

data, a, b, out = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ds = Dataset(data)
A, T = load(ds.shape_path(a)), load(ds.shape_path(b))
z = np.load(Path('out/scanres_registration_maps') / data.name / f'{a}_{b}.npz')
X = P.deformed_source(A, T, z['p2p_21'], z['p2p_12'], max_vertices=5000)
p21 = P.project_on_surface(T.vertices, X, A.faces)[0].nearest_vertex(A.faces)
c = correspondence_colors(A)
render_shapes([A, Shape(X, A.faces, name='deformed'), T, T],
              out, colors=[c, c, c[z['p2p_21']], c[p21]],
              titles=[a, f'{a} deformed onto {b}', f'{b}: map without registration', f'{b}: map read off the registration'])
print(out)
