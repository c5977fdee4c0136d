"""HTTP handlers of the retrieval service: search, ingest, list and delete documents, and
the pages the reader shows (table of contents, one page)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.retrieval.entities import find_entity, search_entities
from services.retrieval.resources import Resources
from shared.api import ApiRoute, json_response, read_json, read_query
from shared.contracts.common import MAX_ID_LENGTH
from shared.contracts.pages import (
    ENTITIES_PATH,
    PAGE_PATH,
    TOC_PATH,
    EntityList,
    EntityQuery,
    PageContent,
    PageToc,
)
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
    results = await request.state["ingestor"].ingest(body.corpus, body.documents)
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
    if deleted is None:
        raise ApiError(404, f"No document {document_id!r} in corpus {query.corpus!r}.")
    return json_response(
        DeleteResponse(corpus=query.corpus, document_id=document_id, deleted=deleted)
    )


def _corpus(request: Request[Resources]) -> str:
    corpus: str = request.path_params["corpus"]
    if not corpus or len(corpus) > MAX_ID_LENGTH or "\x00" in corpus:
        raise ApiError(404, "No such corpus.")
    return corpus


async def corpus_toc(request: Request[Resources]) -> Response:
    corpus = _corpus(request)
    toc = await request.state["pages"].toc(corpus)
    if toc is None:
        raise ApiError(404, f"Corpus {corpus!r} has no pages.")
    return json_response(toc)


async def corpus_entities(request: Request[Resources]) -> Response:
    corpus = _corpus(request)
    query = read_query(request, EntityQuery)
    toc = await request.state["pages"].toc(corpus)
    if toc is None:
        raise ApiError(404, f"Corpus {corpus!r} has no pages.")
    if query.id is not None:
        found = find_entity(toc, query.id)
        return json_response(EntityList(entities=[found] if found else []))
    return json_response(EntityList(entities=search_entities(toc, query.q, query.limit)))


async def corpus_page(request: Request[Resources]) -> Response:
    corpus = _corpus(request)
    document_id: str = request.path_params["document_id"]
    page = await request.state["pages"].page(corpus, document_id)
    if page is None:
        raise ApiError(404, f"No page {document_id!r} in corpus {corpus!r}.")
    return json_response(page)


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
    ApiRoute(
        TOC_PATH,
        corpus_toc,
        method="GET",
        summary="Table of contents of a corpus: its pages by folder, in order (404: no pages).",
        response=PageToc,
        errors=(404,),
    ),
    ApiRoute(
        ENTITIES_PATH,
        corpus_entities,
        method="GET",
        summary="Chapters and pages whose titles match `q` (what a reader can @-mention), "
        "best first (404: no pages).",
        query=EntityQuery,
        response=EntityList,
        errors=(404, 422),
    ),
    ApiRoute(
        PAGE_PATH.replace("{document_id}", "{document_id:path}"),
        corpus_page,
        method="GET",
        summary="One page of a corpus as sanitised HTML whose heading ids are the anchors "
        "search hits link to, with its neighbours.",
        response=PageContent,
        errors=(404,),
    ),
]
