"""The local web view of a store (`mlrun ui`) and its static twin (`mlrun report`).

- `api`: the JSON answers, one function of (path, query) each, shared by the server and the
  report (which inlines them)
- `detail`: one run's page: provenance, children, log tail
- `previews`: bounded previews of artifacts and their files
- `safety`: which requests are served (Host header, token, same origin)
- `server`: the HTTP server over the standard library
- `report`: one self-contained HTML file with the data inlined
- `static/`: the page itself (HTML, CSS, JS; the charts are drawn on canvases by our code)
"""
