# The one autoretrain image. The operator, the gate Jobs, the reference trainer and the
# reference model server all run from it; a pod picks its program with `command`:
#
#   autoretrain operator                  (the default)
#   python -m autoretrain.gates | python -m autoretrain.train | python -m autoretrain.serve
#
# Build it with `docker build -t ghcr.io/autoretrain/autoretrain:0.1.0 .`. Without Docker
# or a registry, `make image` builds this file with buildah over a Debian rootfs and the
# host's uv (tools/localcluster/images.py).

ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${BASE_IMAGE} AS dependencies
COPY --from=uv /uv /usr/local/bin/uv
# Bytecode is compiled here because the runtime's root file system is read-only.
# Copies rather than links keep the venv independent of the cache it came from, and the
# base image's interpreter is used because the runtime stage has the very same one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/autoretrain/venv
WORKDIR /src
# More `uv sync` flags; the local build adds `--offline --cache-dir <the host's cache>`.
ARG UV_SYNC_FLAGS=""

# The dependencies first: a change of the sources reuses this stage and its layer in the image.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-project ${UV_SYNC_FLAGS} \
 && cd /opt/autoretrain/venv/lib/python3*/site-packages \
 # Test suites, type stubs, C headers and Cython sources: nothing reads them at run time.
 && find numpy scipy pandas pyarrow sklearn -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf numpy/_core/include pyarrow/include pyarrow/src pyarrow/_pyarrow_cpp_tests.* \
 && find . \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \) -delete \
 # Optional parts nothing here uses, whose absence their packages expect: the asyncio copy of
 # the Kubernetes client (autoretrain and kopf use neither), Arrow Flight RPC, pyarrow's S3
 # file system (boto3 reads the object store), and botocore's models of AWS services other
 # than S3 and the ones its credential providers call.
 && rm -rf kubernetes/aio \
      pyarrow/flight.py pyarrow/__pycache__/flight.* pyarrow/_flight.* pyarrow/libarrow_flight.* \
      pyarrow/libarrow_python_flight.* pyarrow/_s3fs.* pyarrow/libarrow_s3.* \
 && find botocore/data -mindepth 1 -maxdepth 1 -type d ! -name s3 ! -name sts ! -name sso \
      ! -name sso-oidc ! -name signin -exec rm -rf {} + \
 # Wheels bring some shared libraries twice (pyarrow's by each soname, numpy's and scipy's
 # gfortran); one copy of each serves all names.
 && hardlink --quiet --content --minimum-size 64K --exclude '\.py$' .

FROM dependencies AS project
ARG UV_SYNC_FLAGS=""
COPY README.md ./
COPY operator/ operator/
# The files this sync writes (the project's package, metadata and script) become the image's
# last layer, small and the only one a change of the sources replaces.
RUN --mount=type=cache,target=/root/.cache/uv \
    touch /tmp/before-project \
 && uv sync --frozen --no-dev --no-editable ${UV_SYNC_FLAGS} \
 && mkdir /project && cd /opt/autoretrain/venv \
 && find . -newer /tmp/before-project ! -type d -print0 | xargs -0 cp -a --parents -t /project

FROM ${BASE_IMAGE}
COPY --from=dependencies /opt/autoretrain/venv /opt/autoretrain/venv
COPY --from=project /project/ /opt/autoretrain/venv/
# The user has a name, because libraries ask for one (kopf names its peering identity
# after it); USER answers for any other uid a cluster may assign.
RUN echo 'autoretrain:x:65532:65532:autoretrain:/tmp:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'autoretrain:x:65532:' >> /etc/group
# Nothing writes to the image: the bytecode is compiled and HOME is the writable /tmp.
ENV PATH=/opt/autoretrain/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    USER=autoretrain
USER 65532:65532
CMD ["autoretrain", "operator"]
