FROM python:3.12-alpine AS onbuild-base
WORKDIR /usr/src/app
ONBUILD COPY requirements.txt /usr/src/app/
ONBUILD RUN pip install --no-cache-dir -r requirements.txt
ONBUILD COPY . /usr/src/app

FROM onbuild-base AS app
CMD ["python", "./main.py"]
