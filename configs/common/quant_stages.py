"""Quantization-stage scaffolding shared by the recipes: calibration -> qat -> int_infer
(-> export_hbir / validation_hbir align_bpu).

Every stage rebuilds the float model and converts it with a ``model_convert_pipeline``:

* ``calibration_trainer``: float checkpoint (missing keys allowed) -> ``Float2Calibration``,
  ``calibration_steps`` batches, saved as ``calibration-`` checkpoints in ``ckpt_dir``; the
  activation observer is chosen by the model's output error among ``observer_candidates``
  (the recipe's own calibration observer first, then min/max, percentiles 99.999 and 99.99 and
  the MSE search; ``calibration_trainer["observer_candidates"] = None`` keeps the recipe's);
* ``qat_trainer``: ``Float2QAT`` -> calibration checkpoint -> ``Calibration2QAT``, trained like
  the float stage with the recipe's QAT optimizer and learning-rate callback;
* ``calibration_predictor`` / ``qat_predictor``: fake-quantized evaluation of those checkpoints;
* ``int_infer_predictor`` / ``align_bpu_predictor``: the fixed-point model (``QAT2Quantize``) of
  the deploy network (``deploy_model`` when the recipe has one, with the QAT weights and the
  outputs it lacks ignored), on the validation data and on ``align_bpu_data_loader`` (batch 1).

The checkpoint loaders are module-level names (``float_ckpt_loader``, ...,
``quant_ckpt_loaders``). A derived config with its own ``ckpt_dir`` moves every output and input
of the stages there with one call, ``relocate_outputs(ckpt_dir)``: the Checkpoint callback's and
the TensorBoard callback's folders, the calibration checkpoints and every checkpoint loader
(``point_ckpt_loaders(ckpt_dir)`` re-points the loaders alone). File names come from
:func:`hat.utils.checkpoint.checkpoint_path`.
"""

from collections.abc import Callable

from hat.quantization.observer_selection import DEFAULT_OBSERVER_CANDIDATES
from hat.utils.checkpoint import checkpoint_path

from .float_stage import (
    loss_show_metrics,
    stage_predictor,
    stage_trainer,
    tensorboard_dir,
    trainer_callbacks,
)

# Accelerator described for compile_perf_hbir's analytical estimate (an estimate, not a
# measurement): peak int8 TOPS, DRAM bandwidth, and the fraction of peak a conv net reaches.
COMPILE_CFG = dict(tops=96.0, bandwidth_gbps=68.0, efficiency=0.5, perf_runs=20, warmup_runs=3)


def stage_best_ckpt(stage: str, directory: str) -> str:
    """The best checkpoint the ``stage`` trainer writes in ``directory``."""
    return checkpoint_path(directory, f"{stage}-", "best")


def observer_candidates(qconfig_params: dict | None) -> list[dict]:
    """The calibration's observer candidates: the recipe's own (``qconfig_params``), then
    :data:`~hat.quantization.observer_selection.DEFAULT_OBSERVER_CANDIDATES` not equal to it."""
    params = qconfig_params or {}
    own = []
    if params.get("activation_calibration_observer"):
        own = [
            dict(
                observer=params["activation_calibration_observer"],
                **(params.get("activation_calibration_qkwargs") or {}),
            )
        ]
    return own + [dict(c) for c in DEFAULT_OBSERVER_CANDIDATES if dict(c) not in own]


def checkpoint_loaders(ckpt_dir: str, with_deploy: bool) -> dict[str, dict]:
    """``LoadCheckpoint`` dicts by name: ``float`` (missing keys allowed), ``calibration``,
    ``qat`` and, ``with_deploy``, ``deploy`` (the QAT checkpoint into the deploy network,
    which lacks some of the outputs the checkpoint holds)."""
    loaders = dict(
        float=dict(
            type="LoadCheckpoint",
            checkpoint_path=stage_best_ckpt("float", ckpt_dir),
            allow_miss=True,
        ),
        calibration=dict(
            type="LoadCheckpoint", checkpoint_path=stage_best_ckpt("calibration", ckpt_dir)
        ),
        qat=dict(type="LoadCheckpoint", checkpoint_path=stage_best_ckpt("qat", ckpt_dir)),
    )
    if with_deploy:
        loaders["deploy"] = dict(
            type="LoadCheckpoint",
            checkpoint_path=stage_best_ckpt("qat", ckpt_dir),
            ignore_extra=True,
        )
    return loaders


def quantization_stages(
    *,
    model: dict,
    ckpt_dir: str,
    data_loader: dict,
    batch_processor: dict,
    val_data_loader: dict,
    val_batch_processor: dict,
    callbacks: dict[str, dict],
    val_metrics: Callable[[], list],
    calibration_data_loader: dict,
    calibration_steps: int,
    calibration_log_interval: int,
    qat_optimizer: dict,
    qat_num_epochs: int,
    qat_lr_updater: dict,
    qat_averaging_constant: float | None,
    train_metrics: Callable[[], list] = loss_show_metrics,
    calibration_qconfig_params: dict | None = None,
    deploy_model: dict | None = None,
    align_bpu_data_loader: dict | None = None,
) -> dict:
    """The config names of the quantization stages (see the module docstring).

    Returns the checkpoint loaders (``float_ckpt_loader``, ``calibration_ckpt_loader``,
    ``qat_ckpt_loader``, with ``deploy_model`` also ``deploy_ckpt_loader``;
    ``quant_ckpt_loaders`` holds them by stage), ``point_ckpt_loaders``, ``relocate_outputs``,
    ``stage_best_ckpt``, ``calibration_trainer``, ``qat_trainer``, the four predictors,
    ``align_bpu_data_loader`` (default: the validation loader at batch 1) and ``compile_cfg``.

    ``callbacks`` comes from :func:`float_stage.training_callbacks`; the QAT trainer uses them
    (without TensorBoard) around ``qat_lr_updater``. ``qat_averaging_constant`` is passed to
    ``Calibration2QAT``: ``0`` keeps the calibrated activation scales fixed, ``None`` keeps
    observing them with the library's default constant.
    """
    loaders = checkpoint_loaders(ckpt_dir, with_deploy=deploy_model is not None)

    def point_ckpt_loaders(directory: str) -> None:
        """Re-point every checkpoint loader at ``directory`` (derived configs' ``ckpt_dir``)."""
        for name, loader in checkpoint_loaders(directory, "deploy" in loaders).items():
            loaders[name]["checkpoint_path"] = loader["checkpoint_path"]

    calibration_pipeline = dict(type="ModelConvertPipeline", qat_mode="fuse_bn")
    if calibration_qconfig_params is not None:
        calibration_pipeline["qconfig_params"] = calibration_qconfig_params
    calibration_pipeline["converters"] = [loaders["float"], dict(type="Float2Calibration")]
    calibration_trainer = dict(
        type="Calibrator",
        model=model,
        model_convert_pipeline=calibration_pipeline,
        data_loader=calibration_data_loader,
        batch_processor=val_batch_processor,
        num_steps=calibration_steps,
        device=None,
        log_interval=calibration_log_interval,
        save_dir=ckpt_dir,
        name_prefix="calibration-",
        observer_candidates=observer_candidates(calibration_qconfig_params),
        selection_batches=4,
    )

    def relocate_outputs(directory: str) -> None:
        """Move the stages' outputs and the checkpoints they read to ``directory`` (a derived
        config's ``ckpt_dir``): the Checkpoint callback's folder (float and QAT), the
        TensorBoard callback's, the Calibrator's and every checkpoint loader."""
        callbacks["ckpt_callback"]["save_dir"] = directory
        if "tensorboard_callback" in callbacks:
            callbacks["tensorboard_callback"]["save_dir"] = tensorboard_dir(directory)
        calibration_trainer["save_dir"] = directory
        point_ckpt_loaders(directory)

    qat_trainer = stage_trainer(
        model=model,
        model_convert_pipeline=dict(
            type="ModelConvertPipeline",
            qat_mode="fuse_bn",
            converters=[
                dict(type="Float2QAT"),
                loaders["calibration"],
                dict(type="Calibration2QAT", averaging_constant=qat_averaging_constant),
            ],
        ),
        data_loader=data_loader,
        optimizer=qat_optimizer,
        batch_processor=batch_processor,
        num_epochs=qat_num_epochs,
        callbacks=trainer_callbacks(callbacks, qat_lr_updater, tensorboard=False),
        train_metrics=train_metrics(),
        val_metrics=val_metrics(),
    )

    def predictor(stage_model: dict, converters: list, loader: dict) -> dict:
        return stage_predictor(
            model=stage_model,
            converters=converters,
            data_loader=loader,
            batch_processor=val_batch_processor,
            metrics=val_metrics(),
            val_metric_updater=callbacks["val_metric_updater"],
        )

    deploy = deploy_model if deploy_model is not None else model
    deploy_loader = loaders.get("deploy", loaders["qat"])
    if align_bpu_data_loader is None:
        # On-board style validation: batch 1, deployment preprocessing (the val transforms).
        align_bpu_data_loader = dict(val_data_loader, batch_size=1)
    stages = dict(
        float_ckpt_loader=loaders["float"],
        calibration_ckpt_loader=loaders["calibration"],
        qat_ckpt_loader=loaders["qat"],
    )
    if "deploy" in loaders:
        stages["deploy_ckpt_loader"] = loaders["deploy"]
    stages.update(
        quant_ckpt_loaders=loaders,
        stage_best_ckpt=stage_best_ckpt,
        point_ckpt_loaders=point_ckpt_loaders,
        relocate_outputs=relocate_outputs,
        calibration_trainer=calibration_trainer,
        qat_trainer=qat_trainer,
        calibration_predictor=predictor(
            model,
            [dict(type="Float2QAT"), loaders["calibration"], dict(type="SetFakeQuantState")],
            val_data_loader,
        ),
        qat_predictor=predictor(
            model,
            [dict(type="Float2QAT"), loaders["qat"], dict(type="SetFakeQuantState")],
            val_data_loader,
        ),
        int_infer_predictor=predictor(
            deploy,
            [dict(type="Float2QAT"), deploy_loader, dict(type="QAT2Quantize")],
            val_data_loader,
        ),
        align_bpu_data_loader=align_bpu_data_loader,
        align_bpu_predictor=predictor(
            deploy,
            [dict(type="Float2QAT"), deploy_loader, dict(type="QAT2Quantize")],
            align_bpu_data_loader,
        ),
        compile_cfg=dict(COMPILE_CFG),
    )
    return stages
