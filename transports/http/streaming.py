"""A Litestar response whose body is a ``BodyStream`` (transports.streaming), with its Content-Length.

It is typed as the response it stands for (a status body, raw bytes), so the OpenAPI schema is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from litestar import Response
from litestar.response import Stream

from transports.streaming import BodyStream

if TYPE_CHECKING:
    from litestar import Litestar, Request
    from litestar.background_tasks import BackgroundTask, BackgroundTasks
    from litestar.datastructures import Cookie
    from litestar.enums import MediaType
    from litestar.response.base import ASGIResponse
    from litestar.types import TypeEncodersMap

T = TypeVar("T")


class StreamedResponse(Response[T]):
    def __init__(self, stream: BodyStream, *, media_type: str, headers: dict[str, str] | None = None,
                 status_code: int | None = None) -> None:
        super().__init__(cast(T, b""), media_type=media_type, status_code=status_code,
                         headers={**(headers or {}), "content-length": str(stream.length)})
        self.stream = stream

    def to_asgi_response(
        self, app: Litestar | None, request: Request[Any, Any, Any], *,
        background: BackgroundTask | BackgroundTasks | None = None, cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None, headers: dict[str, str] | None = None,
        is_head_response: bool = False, media_type: MediaType | str | None = None, status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> ASGIResponse:
        stream = Stream(self.stream, headers=self.headers, media_type=self.media_type,
                        status_code=self.status_code, background=self.background)
        return stream.to_asgi_response(None, request, background=background, cookies=cookies,
                                       encoded_headers=encoded_headers, headers=headers,
                                       is_head_response=is_head_response, media_type=media_type,
                                       status_code=status_code, type_encoders=type_encoders)
