"""Mesh-bound Gaussian splats: appearance that follows every deformation of a mesh.

Gaussians are bound to the triangles of a mesh (face, barycentrics, normal offset, rotation and
scales in the triangle's frame, SH colour, opacity) and follow the mesh's vertices through the
triangles' deformation gradients (:class:`SplatBinding`, :meth:`SplatBinding.follow`). They are
fitted to pictures of a textured mesh (:func:`fit_splats`), drawn by our differentiable torch
rasterizer on CPU (:func:`rasterize`) or by gsplat on CUDA (:func:`rasterize_on`), and stored
as the standard 3DGS PLY plus a binding file (:func:`save_splats`, :func:`load_binding`).
Faces can be split 1-to-4 with their Gaussians (:func:`split_faces`; during fitting with
``FitSettings.split_fraction``), the binding still driven by the original mesh.

>>> from shapecorr.splat import fit_splats, FitSettings, appearance_of, save_splats
>>> res = fit_splats(shape.vertices, shape.faces, appearance_of(shape), FitSettings(steps=500))
>>> save_splats("out/spot_splats", res.binding)
>>> picture, _ = render_binding(res.binding, camera, deformed_vertices)
"""

from .backend import (
                 gsplat_available,
                 rasterize_gsplat,
                 rasterize_on,
                 render_binding,
                 render_gaussians,
)
from .binding import MAX_STRETCH, SplatBinding, WorldGaussians, world_gaussians
from .camera import Camera, fibonacci_directions, intrinsics, look_at, orbit_cameras
from .fit import (
                 FitResult,
                 FitSettings,
                 evaluate,
                 fit_splats,
                 initial_binding,
                 psnr,
                 ssim,
)
from .io import (
                 BINDING_NAME,
                 PLY_NAME,
                 GaussianCloud,
                 SplatFileError,
                 cloud_from_world,
                 export_sequence,
                 load_binding,
                 read_ply,
                 save_binding,
                 save_splats,
                 write_ply,
)
from .meshview import SolidAppearance, TextureAppearance, appearance_of, render_mesh
from .raster import rasterize
from .refine import split_faces
from .sh import eval_sh, rgb_to_sh, sh_to_rgb

__all__ = [
                 "BINDING_NAME",
                 "MAX_STRETCH",
                 "PLY_NAME",
                 "Camera",
                 "FitResult",
                 "FitSettings",
                 "GaussianCloud",
                 "SolidAppearance",
                 "SplatBinding",
                 "SplatFileError",
                 "TextureAppearance",
                 "WorldGaussians",
                 "appearance_of",
                 "cloud_from_world",
                 "eval_sh",
                 "evaluate",
                 "export_sequence",
                 "fibonacci_directions",
                 "fit_splats",
                 "gsplat_available",
                 "initial_binding",
                 "intrinsics",
                 "load_binding",
                 "look_at",
                 "orbit_cameras",
                 "psnr",
                 "rasterize",
                 "rasterize_gsplat",
                 "rasterize_on",
                 "read_ply",
                 "render_binding",
                 "render_gaussians",
                 "render_mesh",
                 "rgb_to_sh",
                 "save_binding",
                 "save_splats",
                 "sh_to_rgb",
                 "split_faces",
                 "ssim",
                 "world_gaussians",
                 "write_ply",
]
