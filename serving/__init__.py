"""Serving: the BentoML service for echo videos (serving.service), the in-process prediction path it shares
with benchmarks and monitoring (serving.predictor.Predictor), and the production log it writes
(serving.production_log). Only serving.service imports BentoML."""

from release.model_store import use_project_model_store

use_project_model_store()  # `bentoml serve serving.service:EchoJEPA` by hand reads this checkout's store too
