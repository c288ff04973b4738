FROM ubuntu:22.04
MAINTAINER Someone <someone@example.com>
ENV DEBIAN_FRONTEND noninteractive
ENV LANG C.UTF-8
RUN apt-get update && \
    apt-get install -y supervisor nginx && \
    apt-get clean

RUN echo a \
# a comment between continuation lines
  && echo b
ADD supervisord.conf /etc/supervisor/conf.d/supervisord.conf
EXPOSE 80/tcp 443/tcp 9000-9002/udp
VOLUME /var/log/nginx /var/www
WORKDIR /var/www
CMD /usr/bin/supervisord -n
