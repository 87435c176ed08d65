"""One-click multi-node / multi-GPU training: srun one process per task (or per GPU) with
torchrun's rendezvous variables, from a script in the user's home.

    from aifactory_widgets import TrainingLauncher
    TrainingLauncher()     # script, nodes, tasks or GPUs per node; Review, then Submit

In the script, `torch.distributed.init_process_group(backend)` reads MASTER_ADDR,
MASTER_PORT, WORLD_SIZE and RANK from the environment, as under torchrun.
"""

from __future__ import annotations

import ipywidgets as w

from aifactory_widgets.jobs.launcher import ScriptLauncher
from aifactory_widgets.jobs.placement import field
from aifactory_widgets.jobs.scripts import render_training_script


class TrainingLauncher(ScriptLauncher):
    title = "Distributed training job"

    def extra_fields(self) -> list[w.Widget]:
        self.nodes = field(w.BoundedIntText, "Nodes", min=1, max=1, value=1)
        self.tasks = field(w.BoundedIntText, "Tasks per node", min=1, max=64, value=2)
        self.note = w.Label()
        return [self.nodes, self.tasks, self.gpus, self.cpus_per_task, self.memory_gb, self.note]

    def _bound_to_partition(self) -> None:
        super()._bound_to_partition()
        part = self.placement.limits if hasattr(self, "placement") else None
        if part is None or not hasattr(self, "nodes"):
            return
        self.nodes.max = part.nodes
        gpus = f", {part.min_gpus}-{part.max_gpus} GPUs (one task each)" if part.max_gpus else ""
        self.note.value = (
            f"Partition {part.name}, per node: {part.max_cpus} CPUs, {part.max_memory_gb} GB"
            f"{gpus}; up to {part.nodes} node(s) and {part.max_walltime_hours:g} h."
        )

    def tasks_per_node(self) -> int:
        """One process per GPU on GPU partitions; the tasks field otherwise."""
        return int(self.gpus.value) or int(self.tasks.value)

    def render(self) -> str:
        res = self.resources(tasks_per_node=self.tasks_per_node(), nodes=int(self.nodes.value))
        res, path, args = self.checked(res)
        return render_training_script(res, path, args, self.ctx)
