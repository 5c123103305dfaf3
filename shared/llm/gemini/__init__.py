"""Gemini through google-genai: the ModelClient adapter for every `gemini-*` model.

- `model`: GeminiModel and GeminiParams, the adapter (validate params, call, read the answer).
- `request`: what we send (the image before the instruction, structured output).
- `answer_schema`: the response schema, built from the paper's form type (its statistics' keys
  and printed labels, the words column where it has one); `generic` as before form types.
- `paper_prompt`: the prompt text: the template's, then a section naming the paper's statistics.
- `answers`: Gemini's answer as a ModelResponse, or ModelBlocked / ModelOutputInvalid.
- `error_mapping`: what a call raised as our Model* errors (the whole table is there).
- `transport`: how the google-genai client is built (API key or Vertex AI, base URL, timeout,
  retries); `genai_client(settings)` hands the same client to other callers (Ragas judges).
- `rest`: the lean async path in API-key mode (generateContent posted on aiohttp).

Importing this package imports google-genai: import it inside functions, not on a function's
cold-start path (`shared.llm.get_model_client` does).
"""

from shared.llm.gemini.model import GeminiModel, GeminiParams
from shared.llm.gemini.transport import clear_client_cache, genai_client

__all__ = ["GeminiModel", "GeminiParams", "clear_client_cache", "genai_client"]
