# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
ENV TOOLS=C:\tools `
    GIT_VERSION=2.45.0
WORKDIR C:\app
RUN Write-Host 'installing'; `
    New-Item -ItemType Directory -Path $env:TOOLS
COPY app.exe C:\app\
CMD ["C:\\app\\app.exe"]
