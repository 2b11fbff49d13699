"""`vis dream`'s model, objective and backend, built as the options ask: the options handed to
:func:`vis.engine._dream_setup.prepare_dream`, its notes printed and the guide read as the other commands read a
picture."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import typer

from vis.cli._stills import read_still
from vis.engine._dream_setup import DreamSetup


def build_setup(model: Optional[str], weights: Optional[str], objective: Optional[str], guide: Optional[Path],
                backend: str, provider: str, threads: int, guide_size: Optional[int], *,
                loop: str = "auto", cuda_graph: bool = False,
                input_sizes: Sequence[tuple[int, int]] = (), min_size: int = 32) -> DreamSetup:
    """Model, objective (guided when ``guide`` is given) and backend, as the options ask (see
    :func:`vis.engine._dream_setup.prepare_dream`); the default model's note goes to stderr, and the guide is read
    with :func:`read_still`, which says on stderr when it is an animation."""
    from vis.engine._dream_setup import prepare_dream

    return prepare_dream(model, weights, objective, guide, backend, provider, threads, guide_size, loop=loop,
                         cuda_graph=cuda_graph, input_sizes=input_sizes, min_size=min_size,
                         read_guide=lambda path: read_still(path, "--guide"), on_note=lambda note: typer.echo(note, err=True))
