"""HTTP handlers of the retrieval service: search, ingest, list and delete documents."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.retrieval.resources import Resources
from shared.api import ApiRoute, json_response, read_json, read_query
from shared.contracts.retrieval import (
    CorpusQuery,
    DeleteResponse,
    DocumentList,
    DocumentQuery,
    DocumentSummary,
    IngestRequest,
    IngestResponse,
    SearchRequest,
    SearchResponse,
)
from shared.errors import ApiError


async def search(request: Request[Resources]) -> Response:
    body: SearchRequest = await read_json(request, SearchRequest)
    return json_response(await request.state["searcher"].search(body))


async def ingest(request: Request[Resources]) -> Response:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if content_type.lower() != "application/json":
        raise ApiError(
            415,
            f"Send documents as JSON ({{'documents': [{{'path', 'content'}}]}}), "
            f"not {content_type!r}.",
        )
    body: IngestRequest = await read_json(request, IngestRequest)
    results = await request.state["ingestor"].ingest(
        body.corpus, [(doc.path, doc.content) for doc in body.documents]
    )
    return json_response(IngestResponse(corpus=body.corpus, documents=results))


async def list_documents(request: Request[Resources]) -> Response:
    query = read_query(request, CorpusQuery)
    counts = await request.state["index"].documents(query.corpus)
    return json_response(
        DocumentList(
            corpus=query.corpus,
            documents=[DocumentSummary(document_id=d, chunks=n) for d, n in sorted(counts.items())],
        )
    )


async def delete_document(request: Request[Resources]) -> Response:
    query = read_query(request, DocumentQuery)
    document_id = query.document_id
    deleted = await request.state["ingestor"].delete(query.corpus, document_id)
    if not deleted:
        raise ApiError(404, f"No document {document_id!r} in corpus {query.corpus!r}.")
    return json_response(
        DeleteResponse(corpus=query.corpus, document_id=document_id, deleted=deleted)
    )


routes = [
    ApiRoute(
        "/v1/search",
        search,
        method="POST",
        summary="Search the book with 1-10 phrasings; fused, boosted, deduplicated passages.",
        body=SearchRequest,
        response=SearchResponse,
        errors=(400, 413, 503),
    ),
    ApiRoute(
        "/v1/documents",
        ingest,
        method="POST",
        summary="Ingest Markdown/HTML pages; unchanged pages write nothing, changed ones replace.",
        body=IngestRequest,
        response=IngestResponse,
        errors=(400, 413, 415, 503),
    ),
    ApiRoute(
        "/v1/documents",
        list_documents,
        method="GET",
        summary="List the documents of a corpus with their chunk counts.",
        query=CorpusQuery,
        response=DocumentList,
    ),
    ApiRoute(
        "/v1/documents",
        delete_document,
        method="DELETE",
        summary="Delete every chunk of one document (`?corpus=...&document_id=...`).",
        query=DocumentQuery,
        response=DeleteResponse,
        errors=(404,),
    ),
]
