"""Every stage in order, as one resumable run: `threadline run DIR` and `threadline demo` call this.

The pipeline sits on top of the stages, like the CLI and the web app: it imports them, they never import it."""

from threadline.pipeline.runner import (
    STAGES,
    PipelineOptions,
    PipelineReport,
    StageOutcome,
    run_pipeline,
    summarise,
)

__all__ = ["STAGES", "PipelineOptions", "PipelineReport", "StageOutcome", "run_pipeline", "summarise"]
