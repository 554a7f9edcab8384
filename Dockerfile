# One image for every process of the service: `docker run IMAGE web|worker|beat|flower|release`
# runs that Procfile line (deploy/entrypoint.sh reads it); any other command runs as given
# (`docker run IMAGE python -m fakes.getimg ...`). Guide: docs/deploy.md.
#
# Debian's own Python 3.11 (the version requirements.lock is made for), so the base is
# debian:bookworm-slim rather than a python image.

# ---- python: what both stages need from Debian, fetched once ----------------------------------
FROM debian:bookworm-slim AS python
ARG DEBIAN_FRONTEND=noninteractive
# The export's watermark fonts (media/fonts.py): fonts-dejavu-core (Latin, Greek, Cyrillic),
# fonts-wqy-microhei (Chinese, Japanese, Korean: 5 MB, where Noto Sans CJK is 91 MB) and of
# fonts-noto-core (43 MB) only the 30 faces WATERMARK_FONTS names (4.7 MB): dpkg leaves the
# others out (path-exclude, then path-include; tests/unit/test_watermark_scripts.py checks the
# list against WATERMARK_FONTS). libfribidi0: Pillow's Raqm layout loads it at run time (right-
# to-left text). ca-certificates: TLS to GetImg, S3 and the webhook receivers. python3-venv: the
# build stage's `python3 -m venv` (a few MB, kept in the final image so the two stages share
# this one layer).
RUN noto=/usr/share/fonts/truetype/noto \
 && printf '%s\n' "path-exclude=$noto/*" \
      "path-include=$noto/NotoSans-Regular.ttf" \
      "path-include=$noto/NotoSansArabic-Regular.ttf" \
      "path-include=$noto/NotoSansHebrew-Regular.ttf" \
      "path-include=$noto/NotoSansDevanagari-Regular.ttf" \
      "path-include=$noto/NotoSansBengali-Regular.ttf" \
      "path-include=$noto/NotoSansGurmukhi-Regular.ttf" \
      "path-include=$noto/NotoSansGujarati-Regular.ttf" \
      "path-include=$noto/NotoSansOriya-Regular.ttf" \
      "path-include=$noto/NotoSansTamil-Regular.ttf" \
      "path-include=$noto/NotoSansTelugu-Regular.ttf" \
      "path-include=$noto/NotoSansKannada-Regular.ttf" \
      "path-include=$noto/NotoSansMalayalam-Regular.ttf" \
      "path-include=$noto/NotoSansSinhala-Regular.ttf" \
      "path-include=$noto/NotoSansThai-Regular.ttf" \
      "path-include=$noto/NotoSansLao-Regular.ttf" \
      "path-include=$noto/NotoSansKhmer-Regular.ttf" \
      "path-include=$noto/NotoSansMyanmar-Regular.ttf" \
      "path-include=$noto/NotoSansArmenian-Regular.ttf" \
      "path-include=$noto/NotoSansGeorgian-Regular.ttf" \
      "path-include=$noto/NotoSansEthiopic-Regular.ttf" \
      "path-include=$noto/NotoSansThaana-Regular.ttf" \
      "path-include=$noto/NotoSansSyriac-Regular.ttf" \
      "path-include=$noto/NotoSerifTibetan-Regular.ttf" \
      "path-include=$noto/NotoSansCherokee-Regular.ttf" \
      "path-include=$noto/NotoSansTifinagh-Regular.ttf" \
      "path-include=$noto/NotoSansYi-Regular.ttf" \
      "path-include=$noto/NotoSansAdlam-Regular.ttf" \
      "path-include=$noto/NotoSansNKo-Regular.ttf" \
      "path-include=$noto/NotoSansOlChiki-Regular.ttf" \
      "path-include=$noto/NotoSansJavanese-Regular.ttf" \
      >/etc/dpkg/dpkg.cfg.d/watermark-fonts \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv ca-certificates libfribidi0 \
      fonts-dejavu-core fonts-noto-core fonts-wqy-microhei \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log

# ---- build: the virtualenv, from the lock's run-time pins, hash-checked -----------------------
FROM python AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
COPY requirements.lock pyproject.toml deploy/runtime_requirements.py /tmp/lock/
# The lock pins the dev extra too (pytest, mypy, moto, playwright): only the pins that
# pyproject.toml's `dependencies` reach are installed, with their hashes; `pip check` proves
# the set complete. Every pin is a wheel but psycogreen, a pure-Python sdist: no compiler.
RUN python3 /tmp/lock/runtime_requirements.py /tmp/lock/requirements.lock \
      /tmp/lock/pyproject.toml >/tmp/lock/runtime.lock \
 && /opt/venv/bin/pip install --require-hashes -r /tmp/lock/runtime.lock \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall -y pip setuptools \
 && rm -rf /tmp/lock

# ---- run: Python, the fonts, the virtualenv and the code; nothing to build with --------------
FROM python
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid app --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . /app
# The code is root's and read-only to the service; var/ (MEDIA_ROOT's default, gunicorn's
# metrics folder, beat's schedule) is the one place it writes. The code's bytecode is made
# here, once, since the processes themselves write none.
RUN python3 -m compileall -q -j 0 /app \
 && install -d -o app -g app -m 0750 /app/var /app/var/media /app/var/run
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MEDIA_ROOT=/app/var/media \
    PORT=8000
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
