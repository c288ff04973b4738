# syntax=docker/dockerfile:1
FROM alpine AS fetch
RUN apk add --no-cache git openssh-client
RUN mkdir -p -m 0700 ~/.ssh && ssh-keyscan github.com >> ~/.ssh/known_hosts
RUN --mount=type=ssh git clone git@github.com:example/private.git /src
RUN --mount=type=secret,id=aws,target=/root/.aws/credentials \
    --mount=type=secret,id=token,env=GITHUB_TOKEN,required=true \
    --mount=type=tmpfs,target=/scratch,size=128m \
    --network=none \
    ./fetch-assets.sh

FROM scratch
COPY --from=fetch /src /
