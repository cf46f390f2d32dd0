# clip-search-bot: CPU image. Build: docker build -t clip-search-bot .
# Run:  docker run -e TELEGRAM_BOT_TOKEN=... -v $PWD/config.toml:/config/config.toml \
#         -v clip-data:/data clip-search-bot
# In the mounted config, set storage.data_dir = "/data" (and model.cache_dir = "/data/models"
# so downloaded weights and the int8 text tower exported at the first start survive new
# containers); left at its default ("data", beside the config) it
# is /config/data, which the image lets the bot user create too, but it is not a volume.
# Webhook mode inside a container: set telegram.webhook.listen = "0.0.0.0" (the default,
# 127.0.0.1, is unreachable from outside the container) and publish the port: -p 8443:8443.
# A separate embedding worker (index.embedding = "worker"): the same image with
#   docker run ... clip-search-bot python -m bot --worker
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CLIP_SEARCH_CONFIG=/config/config.toml \
    HF_HOME=/data/huggingface

WORKDIR /app

# OpenCV (through rapidocr-onnxruntime, which reads the words in pictures) needs libGL and
# glib; a CJK font is only for the playground's demo pictures with Chinese words.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 fonts-wqy-zenhei \
    && rm -rf /var/lib/apt/lists/*

# The CPU build of torch first: the default wheels bundle CUDA and are several GB larger.
RUN pip install --index-url https://download.pytorch.org/whl/cpu \
        torch==2.14.1 torchvision==0.29.1

COPY pyproject.toml README.md ./
COPY indexer ./indexer
COPY bot ./bot
# With the Milvus client, so index.backend = "milvus" needs no rebuild (docs/SCALING.md).
RUN pip install ".[milvus]"

RUN useradd --create-home --uid 1000 bot && mkdir -p /data /config && chown bot /data /config
USER bot
VOLUME ["/data"]
# telegram.webhook.port's default, for mode = "webhook" (polling needs no port).
EXPOSE 8443

CMD ["python", "-m", "bot"]
