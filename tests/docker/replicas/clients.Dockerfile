# The FTP clients users run, in a container of their own on the front network.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends lftp curl python3 \
 && rm -rf /var/lib/apt/lists/*
COPY drive.py /drive.py
CMD ["sleep", "infinity"]
