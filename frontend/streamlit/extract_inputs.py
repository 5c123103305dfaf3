"""Two of the Vote Extractor's inputs: the prompt, picked by ref, and the reference documents.

The prompt picker offers what POST /extract's `prompt_version` takes, from GET /extract/options
`prompts`: each prompt's bare name (the API's default meaning), then its refs (`name@n`, newest
first, then `name@label`), each version shown with the labels that point at it. Reference
documents are typed, or read from text files, and sent as `reference_docs` (the prompt's
`{{reference_docs}}`); the API's limit is checked here first so a long text is said, not sent.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

Json = dict[str, Any]
MAX_REFERENCE_DOCS_CHARS = 32_000  # openapi.yaml, POST /extract reference_docs maxLength


def prompt_refs(options: Json) -> tuple[list[str], dict[str, str]]:
    """The refs to offer, in order, and how each is shown (a version with its labels)."""
    refs: list[str] = []
    shown: dict[str, str] = {}
    for prompt in options.get("prompts") or []:
        name = prompt["name"]
        labels_of: dict[str, list[str]] = {}
        for label, number in (prompt.get("labels") or {}).items():
            labels_of.setdefault(f"{name}@{number}", []).append(label)
        refs.append(name)
        shown[name] = f"{name} (latest: version {prompt['latest_version']})"
        for ref in prompt.get("refs") or []:
            refs.append(ref)
            labels = sorted(labels_of.get(ref, []))
            shown[ref] = f"{ref} ({', '.join(labels)})" if labels else ref
    if not refs:  # an API older than `prompts`: the names alone
        refs = list(options.get("prompt_versions") or [])
    return refs, shown


def prompt_picker(column: Any, options: Json) -> str | None:
    """The `prompt_version` to send: a name, `name@n` or `name@label`."""
    refs, shown = prompt_refs(options)
    default = options.get("default_prompt_version")
    return column.selectbox(
        "Prompt version",
        refs,
        index=refs.index(default) if default in refs else 0,
        format_func=lambda ref: shown.get(ref, ref),
        key="prompt-ref",
        help="A name: the API's default version of it; name@n: one version; name@label: where the label points.",
    )


def reference_docs_input() -> tuple[str | None, str | None]:
    """(the reference documents to send, or None; a sentence when they cannot be sent)."""
    with st.expander("Reference documents (optional: the prompt's {{reference_docs}})"):
        typed = st.text_area(
            "Reference documents",
            key="reference-docs",
            height=120,
            placeholder="e.g. the candidates standing in this constituency, or the registered voters",
        )
        files = st.file_uploader(
            "Or text files", type=["txt", "md", "csv", "json"], accept_multiple_files=True, key="reference-files"
        )
        parts = [typed.strip()] if typed.strip() else []
        for file in files or []:
            try:
                parts.append(file.getvalue().decode("utf-8").strip())
            except UnicodeDecodeError:
                return None, f"{file.name} is not UTF-8 text: the reference documents must be text."
        text = "\n\n".join(part for part in parts if part)
        if len(text) > MAX_REFERENCE_DOCS_CHARS:
            return None, (
                f"The reference documents are {len(text):,} characters; the API takes at most "
                f"{MAX_REFERENCE_DOCS_CHARS:,}: shorten them."
            )
        if text:
            st.caption(f"{len(text):,} characters will be sent with the extraction.")
        return text or None, None
