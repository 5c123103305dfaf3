"""Local stand-ins for remote services the project cannot reach offline.

`gemini_server` is a real HTTP server that speaks Gemini's generateContent REST API, so tests
exercise the real google-genai client end to end without the internet.
"""
