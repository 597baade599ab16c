"""Float-stage scaffolding shared by the recipes: callbacks, trainer and predictors.

A recipe states its task (model, data loaders, batch processors, metric update functions,
optimizer, schedule) and gets the standard stage dicts from these builders; each returns a dict
of config names that the recipe merges into its own module (``globals().update(...)``), so the
names stay top-level entries that derived configs (the demos) edit by name, e.g.
``lr_updater["warmup_len"] = 1`` (a derived config that moves ``ckpt_dir`` calls
``relocate_outputs(ckpt_dir)``, see :mod:`quant_stages`).

Loaded by path from a recipe (``from ...common import float_stage``, the number of dots being
the recipe's depth below ``configs/``).
"""

from collections.abc import Callable


def loss_show_metrics() -> list[dict]:
    """``[LossShow]``: the training metric of recipes that only show their losses."""
    return [dict(type="LossShow")]


def tensorboard_dir(ckpt_dir: str) -> str:
    """Where the TensorBoard callback writes: ``{ckpt_dir}/tensorboard``."""
    return ckpt_dir + "/tensorboard"


def training_callbacks(
    *,
    task_name: str,
    ckpt_dir: str,
    training_step: str,
    update_loss: Callable,
    update_metric: Callable,
    val_data_loader: dict,
    val_batch_processor: dict,
    monitor_metric_key: str,
    mode: str,
    loss_log_prefix: str = "loss_",
    loss_step_log_freq: int = 100,
    tensorboard: bool = True,
) -> dict[str, dict]:
    """The callbacks every stage trainer shares.

    Returns ``stat_callback`` (StatsMonitor), ``loss_show_callback`` (training metrics through
    ``update_loss``), ``val_metric_updater`` (evaluation metrics through ``update_metric``),
    ``val_callback`` (validation every epoch), ``ckpt_callback`` (``{training_step}-`` files in
    ``ckpt_dir``, best by ``monitor_metric_key`` and ``mode``) and, with ``tensorboard``,
    ``tensorboard_callback``.
    """
    val_metric_updater = dict(
        type="MetricUpdater",
        metric_update_func=update_metric,
        step_log_freq=10000,
        epoch_log_freq=1,
        log_prefix="Validation " + task_name,
    )
    callbacks = dict(
        stat_callback=dict(type="StatsMonitor", log_freq=100),
        loss_show_callback=dict(
            type="MetricUpdater",
            metric_update_func=update_loss,
            step_log_freq=loss_step_log_freq,
            epoch_log_freq=1,
            log_prefix=loss_log_prefix + task_name,
        ),
        val_metric_updater=val_metric_updater,
        val_callback=dict(
            type="Validation",
            data_loader=val_data_loader,
            batch_processor=val_batch_processor,
            callbacks=[val_metric_updater],
            val_model=None,
            init_with_train_model=True,
            val_interval=1,
            log_interval=200,
        ),
        ckpt_callback=dict(
            type="Checkpoint",
            save_dir=ckpt_dir,
            name_prefix=training_step + "-",
            save_interval=1,
            strict_match=True,
            mode=mode,
            monitor_metric_key=monitor_metric_key,
        ),
    )
    if tensorboard:
        callbacks["tensorboard_callback"] = dict(
            type="TensorBoard", save_dir=tensorboard_dir(ckpt_dir), update_freq=100
        )
    return callbacks


def recipe_task(
    *,
    model: dict,
    data_loader: dict,
    batch_processor: dict,
    val_data_loader: dict,
    val_batch_processor: dict,
    val_metrics: Callable[[], list],
    train_metrics: Callable[[], list] = loss_show_metrics,
    **callback_kwargs,
) -> dict:
    """What :func:`float_stage` and ``quant_stages.quantization_stages`` take from a recipe: its
    model, loaders, batch processors and metric factories, and ``callbacks`` built by
    :func:`training_callbacks` (``callback_kwargs`` plus the validation loader and batch
    processor). A recipe merges ``callbacks`` into its module to keep them top-level names."""
    callbacks = training_callbacks(
        val_data_loader=val_data_loader, val_batch_processor=val_batch_processor, **callback_kwargs
    )
    return dict(
        model=model,
        data_loader=data_loader,
        batch_processor=batch_processor,
        val_data_loader=val_data_loader,
        val_batch_processor=val_batch_processor,
        callbacks=callbacks,
        train_metrics=train_metrics,
        val_metrics=val_metrics,
    )


def trainer_callbacks(callbacks: dict[str, dict], lr_updater: dict, tensorboard: bool) -> list:
    """``[stats, loss show, lr_updater, validation, checkpoint(, tensorboard)]``."""
    names = ["stat_callback", "loss_show_callback", None, "val_callback", "ckpt_callback"]
    if tensorboard and "tensorboard_callback" in callbacks:
        names.append("tensorboard_callback")
    return [lr_updater if name is None else callbacks[name] for name in names]


def stage_trainer(
    *,
    model: dict,
    data_loader: dict,
    batch_processor: dict,
    optimizer: dict,
    num_epochs: int,
    callbacks: list,
    train_metrics: list,
    val_metrics: list,
    model_convert_pipeline: dict | None = None,
) -> dict:
    """A distributed data-parallel trainer over ``num_epochs`` epochs (synchronised BN)."""
    trainer = dict(type="distributed_data_parallel_trainer", model=model)
    if model_convert_pipeline is not None:
        trainer["model_convert_pipeline"] = model_convert_pipeline
    trainer.update(
        data_loader=data_loader,
        optimizer=optimizer,
        batch_processor=batch_processor,
        stop_by="epoch",
        num_epochs=num_epochs,
        device=None,
        callbacks=callbacks,
        train_metrics=train_metrics,
        val_metrics=val_metrics,
        sync_bn=True,
    )
    return trainer


def stage_predictor(
    *,
    model: dict,
    data_loader: dict,
    batch_processor: dict,
    metrics: list,
    val_metric_updater: dict,
    converters: list | None = None,
) -> dict:
    """A Predictor over ``data_loader``; with ``converters``, the model goes through a
    ``fuse_bn`` ModelConvertPipeline of them first."""
    predictor = dict(type="Predictor", model=model)
    if converters is not None:
        predictor["model_convert_pipeline"] = dict(
            type="ModelConvertPipeline", qat_mode="fuse_bn", converters=converters
        )
    predictor.update(
        data_loader=[data_loader],
        batch_processor=batch_processor,
        device=None,
        metrics=metrics,
        callbacks=[val_metric_updater],
        log_interval=50,
    )
    return predictor


def float_stage(
    *,
    model: dict,
    data_loader: dict,
    batch_processor: dict,
    val_data_loader: dict,
    val_batch_processor: dict,
    callbacks: dict[str, dict],
    optimizer: dict,
    num_epochs: int,
    lr_updater: dict,
    val_metrics: Callable[[], list],
    train_metrics: Callable[[], list] = loss_show_metrics,
) -> dict[str, dict]:
    """``float_trainer`` and ``float_predictor``.

    ``callbacks`` comes from :func:`training_callbacks`; ``lr_updater`` is the recipe's
    learning-rate callback (a module-level name there, so derived configs edit it by name).
    ``val_metrics`` and ``train_metrics`` make fresh metric dicts for every user (the registry
    builds one object per dict, and training and evaluation metrics must not be one object).
    """
    return dict(
        float_trainer=stage_trainer(
            model=model,
            data_loader=data_loader,
            batch_processor=batch_processor,
            optimizer=optimizer,
            num_epochs=num_epochs,
            callbacks=trainer_callbacks(callbacks, lr_updater, tensorboard=True),
            train_metrics=train_metrics(),
            val_metrics=val_metrics(),
        ),
        float_predictor=stage_predictor(
            model=model,
            data_loader=val_data_loader,
            batch_processor=val_batch_processor,
            metrics=val_metrics(),
            val_metric_updater=callbacks["val_metric_updater"],
        ),
    )
