"""GeminiModel: the ModelClient adapter for every `gemini-*` model, answering with a VoteExtraction.

Sync calls, and async calls in Vertex AI mode, go through exactly `Models.generate_content` /
`AsyncModels.generate_content`, the methods ddtrace's google-genai integration wraps to open the
llm span. Async calls in API-key mode (the experiment runner's) post the REST request themselves
(`shared.llm.gemini.rest`, for throughput) and open an explicit llm span here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google import genai

from shared.config import Settings
from shared.errors import InvalidField
from shared.llm.base import ModelRequest, ModelResponse
from shared.llm.gemini.answers import read_rest_answer, read_sdk_response
from shared.llm.gemini.error_mapping import ModelRef, model_error, not_configured_error
from shared.llm.gemini.paper_prompt import prompt_text
from shared.llm.gemini.request import generate_content_config, request_contents
from shared.llm.gemini.rest import post_generate_content, rest_body, rest_endpoint
from shared.llm.gemini.transport import ClientOptions, build_client
from shared.observability.llmobs import annotate, explicit_llm_span
from shared.prompts.model_settings import REQUIREMENTS, GenerationSettings, setting_problems


class GeminiParams(GenerationSettings):
    """The generation params a variant may set: the same a prompt version's model settings may
    (`shared.prompts.model_settings`); unset ones keep Gemini's defaults."""


class GeminiModel:
    """A Gemini model, e.g. `gemini-2.5-flash`, answering with a VoteExtraction (structured output)."""

    takes_generation_settings = True

    def __init__(self, model_name: str, *, settings: Settings) -> None:
        self.model_name = model_name
        self.provider = "vertexai" if settings.gemini_use_vertex else "google"
        self.client_options = ClientOptions.from_settings(settings)
        self._ref = ModelRef(model_name=model_name, provider=self.provider)

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return the params that are set; raise InvalidField naming each unknown or bad one."""
        if not isinstance(params, Mapping):
            raise InvalidField("params must be a JSON object.", details={"field": "params"})
        problems = setting_problems(params, owner="Param", field="params")
        if problems:
            raise InvalidField(" ".join(problems), details={"field": "params", "accepted": REQUIREMENTS})
        validated = GeminiParams.model_validate(dict(params))
        return validated.model_dump(exclude_none=True)

    def extract(self, request: ModelRequest) -> ModelResponse:
        """Read one form image with Gemini; raises a ModelError subclass on failure."""
        params = self.validate_params(request.params)
        client = self._client()
        try:
            response = client.models.generate_content(
                model=self.model_name,
                contents=request_contents(request),
                config=generate_content_config(params, request.form_type),
            )
        except Exception as error:
            raise model_error(error, model=self._ref, options=self.client_options) from error
        return read_sdk_response(response, model=self._ref, form_type=request.form_type)

    async def extract_async(self, request: ModelRequest) -> ModelResponse:
        """`extract` on the event loop, for concurrent experiment runs.

        API-key mode posts the REST request itself (see `shared.llm.gemini.rest`); Vertex AI mode
        uses google-genai's `client.aio`.
        """
        params = self.validate_params(request.params)
        client = self._client()
        if self.client_options.use_vertex:
            try:
                response = await client.aio.models.generate_content(
                    model=self.model_name,
                    contents=request_contents(request),
                    config=generate_content_config(params, request.form_type),
                )
            except Exception as error:
                raise model_error(error, model=self._ref, options=self.client_options) from error
            return read_sdk_response(response, model=self._ref, form_type=request.form_type)
        endpoint = rest_endpoint(self.client_options, self.model_name)
        with explicit_llm_span(model_name=self.model_name, provider=self.provider, name="generate_content") as span:
            # One annotation per call, made when the answer is in (or the call failed): each
            # LLMObs.annotate validates and copies what it is given.
            request_fields = {
                "input_data": [
                    {"role": "user", "content": f"[image: {request.content_type}, {len(request.image)} bytes]"},
                    {"role": "user", "content": prompt_text(request)},
                ],
                "metadata": {"prompt_version": request.prompt.version, **params},
            }
            try:
                try:
                    body = await post_generate_content(self.client_options, endpoint, rest_body(request, params))
                except Exception as error:
                    raise model_error(error, model=self._ref, options=self.client_options) from error
                answer = read_rest_answer(body, model=self._ref, form_type=request.form_type)
            except BaseException:  # failed or cancelled (a run's deadline): the span still shows the request
                annotate(span, **request_fields)
                raise
            annotate(
                span,
                **request_fields,
                output_data=[{"role": "assistant", "content": answer.raw_output}],
                metrics={
                    "input_tokens": answer.usage.input_tokens,
                    "output_tokens": answer.usage.output_tokens,
                    "total_tokens": answer.usage.total_tokens,
                },
            )
        return answer

    def _client(self) -> genai.Client:
        try:
            return build_client(self.client_options)
        except ValueError as error:
            raise not_configured_error(error, model=self._ref, options=self.client_options) from error
