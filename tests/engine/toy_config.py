"""Tiny training config used by the engine tests (tools, resume, DDP)."""

import os

import torch

from .toy_components import (
    FailWritesFromStep,
    KillAtStep,
    KillDuringSave,
    LossRecorder,
    MSEMetric,
    PoisonLoss,
    ToyDataset,
    ToyModel,
    loss_collector,
    update_loss_metric,
    update_val_metric,
)

seed = 7
deterministic = True
ckpt_dir = "/tmp/hat_toy_ckpt"
record_path = ""
kill_at_step = -1
kill_at_write = -1  # the n-th checkpoint file write of the run (KillDuringSave)
kill_when = "before_replace"
fail_writes_from_step = -1
poison_steps = []
nonfinite_loss_patience = 0
num_workers = 0
batch_size_per_gpu = 4
dataset_size = 48
max_epoch = 3
lr = 0.02
ckpt_interval_steps = 2
dropout = 0.1

model = dict(type=ToyModel, in_dim=8, hidden=16, dropout=dropout)

data_loader = dict(
    type=torch.utils.data.DataLoader,
    dataset=dict(type=ToyDataset, size=dataset_size, dim=8, seed=0),
    sampler=dict(type=torch.utils.data.DistributedSampler),
    batch_size=batch_size_per_gpu,
    shuffle=True,
    num_workers=num_workers,
)
val_data_loader = dict(
    type=torch.utils.data.DataLoader,
    dataset=dict(type=ToyDataset, size=16, dim=8, seed=1),
    batch_size=4,
    shuffle=False,
    num_workers=0,
)

batch_processor = dict(
    type="MultiBatchProcessor",
    need_grad_update=True,
    loss_collector=loss_collector,
    nonfinite_loss_patience=nonfinite_loss_patience,
)
val_batch_processor = dict(type="MultiBatchProcessor", need_grad_update=False)

val_metric_updater = dict(
    type="MetricUpdater",
    metric_update_func=update_val_metric,
    step_log_freq=100,
    epoch_log_freq=1,
    log_prefix="Validation",
)

float_trainer = dict(
    type="distributed_data_parallel_trainer",
    model=model,
    data_loader=data_loader,
    optimizer=dict(
        type=torch.optim.SGD, params={"weight": dict(weight_decay=1e-4)}, lr=lr, momentum=0.9
    ),
    batch_processor=batch_processor,
    stop_by="epoch",
    num_epochs=max_epoch,
    device=None,
    callbacks=[
        dict(type="CosLrUpdater", warmup_by="step", warmup_len=3),
        dict(type="StatsMonitor", log_freq=5),
        dict(
            type="MetricUpdater",
            metric_update_func=update_loss_metric,
            step_log_freq=6,
            epoch_log_freq=1,
            log_prefix="loss",
        ),
        dict(
            type="Validation",
            data_loader=val_data_loader,
            batch_processor=val_batch_processor,
            callbacks=[val_metric_updater],
        ),
        dict(
            type="Checkpoint",
            save_dir=ckpt_dir,
            interval_by="step",
            save_interval=ckpt_interval_steps,
            monitor_metric_key="mse",
            mode="min",
        ),
        dict(type=LossRecorder, path=record_path),
        dict(type=KillAtStep, step=kill_at_step),
        dict(type=PoisonLoss, steps=poison_steps),
        dict(type=FailWritesFromStep, step=fail_writes_from_step),
        dict(type=KillDuringSave, index=kill_at_write, when=kill_when),
    ],
    train_metrics=[dict(type="LossShow")],
    val_metrics=[dict(type=MSEMetric)],
    sync_bn=True,
)

float_predictor = dict(
    type="Predictor",
    model=model,
    data_loader=val_data_loader,
    batch_processor=val_batch_processor,
    metrics=[dict(type=MSEMetric)],
    callbacks=[val_metric_updater],
)

# Configs may read the stage: the tool sets HAT_TRAINING_STEP before executing the file.
training_step = os.environ.get("HAT_TRAINING_STEP", "float")
if training_step == "finetune":
    finetune_trainer = dict(float_trainer, num_epochs=1)
