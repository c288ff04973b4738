chmod 0755 src/bin/tool
chmod 0600 src/etc/conf
chown -R 1000:50 src/etc
# Fixed times and no gzip name/time: the archives come out the same every
# run, so buildah's cached result for this case stays valid.
tar --mtime=@0 --sort=name -cf plain.tar -C src .
tar --mtime=@0 --sort=name -c -C src bin etc | gzip -n > app.tar.gz
tar --mtime=@0 --sort=name -cJf app.tar.xz -C src .
printf 'not a tar' | gzip -nc > notatar.gz
rm -rf src
