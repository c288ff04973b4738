# git cannot hold these modes: set them here.
chmod 4755 suid
chmod 2755 sgid
chmod 6711 both
chmod 1777 sticky
chmod 0401 odd
chmod 2775 sgid-dir
