"""What a model's tokens cost: the list prices, kept with the models they belong to."""

from __future__ import annotations

# US$ per 1M tokens (input, output): the list prices published at the time of writing. They are
# configuration, not truth: check the provider's price page before trusting a cost estimate.
PRICES_PER_MILLION_TOKENS: dict[str, tuple[float, float]] = {
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),  # the cross check's default second reader
    "gemini-2.5-pro": (1.25, 10.00),
    "tesseract": (0.0, 0.0),
}


def estimated_cost_usd(model: str, input_tokens: int, output_tokens: int) -> float | None:
    """The list-price cost of the tokens, or None for a model with no price in the table."""
    prices = PRICES_PER_MILLION_TOKENS.get(model)
    if prices is None:
        return None
    input_price, output_price = prices
    return (input_tokens * input_price + output_tokens * output_price) / 1_000_000


# About how many characters of text make a token (Gemini's own rule of thumb for English text).
CHARS_PER_TOKEN = 4


def estimated_tokens(chars: int) -> int:
    """The tokens a text of `chars` characters is assumed to take, before any model counts it."""
    return chars // CHARS_PER_TOKEN
