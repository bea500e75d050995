"""Train the base classifier (AlexNet on CIFAR-10 by default).

Examples:
  uv run python train.py                              # 10 epochs, artifacts/alexnet_base.pth
  uv run python train.py --data-root /data/cifar      # official batches elsewhere
  uv run python train.py --epochs 2 --run-name quick --output artifacts/quick.pth
  uv run python train.py --arch small_cnn --epochs 3 --output artifacts/small.pth

An interrupted run resumes from its last epoch checkpoint (artifacts/checkpoints/<run>/) when the
same command is given again; --force starts it afresh and overwrites --output.
"""

from __future__ import annotations

import argparse
import sys

from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    add_data_args,
    add_device_argument,
    non_negative_int,
    non_negative_number,
    positive_int,
    positive_number,
    run_main,
    setup_logging,
)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    add_data_args(parser)
    parser.add_argument("--arch", default="alexnet", help="architecture name")
    parser.add_argument("--epochs", type=positive_int, default=10,
                        help="epochs of the one-cycle schedule")
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--max-lr", type=positive_number, default=0.02, help="peak learning rate")
    parser.add_argument("--weight-decay", type=non_negative_number, default=5e-4)
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="makes the run deterministic on CPU")
    parser.add_argument("--input-size", type=positive_int, default=None,
                        help="side the model resizes images to (default: 64 for alexnet)")
    parser.add_argument("--train-subset", type=positive_int, default=None,
                        help="train on this many randomly chosen training images")
    parser.add_argument("--run-name", default="alexnet_base",
                        help="epoch checkpoints go to <checkpoint-dir>/<run-name>/")
    parser.add_argument("--checkpoint-dir", default="artifacts/checkpoints")
    parser.add_argument("--output", default="artifacts/alexnet_base.pth", help="final model")
    add_device_argument(parser)
    parser.add_argument("--force", action="store_true",
                        help="overwrite --output and restart the run instead of resuming it")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from helpers.devices import resolve_device
    from model_classes.training import TrainConfig, train

    config = TrainConfig(arch=args.arch, dataset=args.dataset, data_root=args.data_root,
                         epochs=args.epochs, batch_size=args.batch_size, max_lr=args.max_lr,
                         weight_decay=args.weight_decay, seed=args.seed,
                         input_size=args.input_size, train_subset=args.train_subset,
                         label_overrides=args.label_overrides, run_name=args.run_name,
                         checkpoint_dir=args.checkpoint_dir,
                         output=args.output, device=str(resolve_device(args.device)))
    result = train(config, force=args.force)
    print(f"test accuracy {100 * result.test_accuracy:.2f}% after {config.epochs} epochs; "
          f"model written to {result.output}")
    return 0


if __name__ == "__main__":
    from helpers.allocator import reexec_with_tuned_malloc

    reexec_with_tuned_malloc()  # before torch allocates anything: see helpers/allocator.py
    sys.exit(run_main(main))
