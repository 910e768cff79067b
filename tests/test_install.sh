#!/bin/sh
# meson install into a DESTDIR, plain and with --strip, and check the tree:
# every file at its place with its mode, the binaries run, the config the
# binary reads by default is the installed one, the man pages are clean
# under mandoc -T lint, both units pass systemd-analyze verify. Every tool
# it needs must be there: a missing one fails the test.
set -eu
for v in TL_BUILD_DIR TL_SOURCE_DIR TL_SBINDIR TL_BINDIR TL_SYSCONFDIR \
    TL_DATADIR TL_MANDIR TL_UNITDIR TL_VERSION; do
	eval "[ -n \"\${$v:-}\" ]" || { echo "FAIL: $v is not set"; exit 1; }
done
for tool in meson mandoc systemd-analyze readelf cmp; do
	command -v $tool >/dev/null || { echo "FAIL: $tool is missing"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}

# meson test built everything: no rebuild, so nothing races the build.
meson install -C "$TL_BUILD_DIR" --no-rebuild --quiet --destdir "$tmp/plain" \
    >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "meson install"; }
meson install -C "$TL_BUILD_DIR" --no-rebuild --quiet --strip \
    --destdir "$tmp/strip" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "meson install --strip"; }

# The tree, exactly: each file and its mode.
cat >"$tmp/want" <<TREE
755 $TL_BINDIR/threadline
755 $TL_SBINDIR/threadlined
644 $TL_SYSCONFDIR/logrotate.d/threadlined
644 $TL_SYSCONFDIR/threadlined.conf
644 $TL_DATADIR/threadline/grafana/threadline.json
644 $TL_DATADIR/threadline/prometheus/threadline-rules.yml
644 $TL_UNITDIR/threadlined.service
644 $TL_UNITDIR/threadlined@.service
644 $TL_MANDIR/man1/threadline.1
644 $TL_MANDIR/man5/threadlined.conf.5
644 $TL_MANDIR/man8/threadlined.8
TREE
sort -k2 "$tmp/want" >"$tmp/want.sorted"
for d in plain strip; do
	(cd "$tmp/$d" && find . -type f -printf '%m /%P\n' | sort -k2) \
	    >"$tmp/got"
	cmp -s "$tmp/want.sorted" "$tmp/got" || {
		diff -u "$tmp/want.sorted" "$tmp/got" || true
		fail "the $d tree differs from the expected one"
	}
done
cat "$tmp/got"

# Symbols in the plain install, none in the stripped one.
for b in "$TL_SBINDIR/threadlined" "$TL_BINDIR/threadline"; do
	readelf -S "$tmp/plain$b" | grep -q '\.symtab' ||
	    fail "$b has no symbol table without --strip"
	readelf -S "$tmp/strip$b" | grep -q '\.symtab' &&
	    fail "$b keeps its symbol table with --strip"
done

# The installed binaries run.
sbin=$tmp/strip$TL_SBINDIR/threadlined
[ "$("$sbin" --config '' --version)" = "threadlined $TL_VERSION" ] ||
    fail "threadlined --version"
[ "$("$tmp/strip$TL_BINDIR/threadline" -V)" = "threadline $TL_VERSION" ] ||
    fail "threadline -V"

# The file the binary reads without --config is the installed config.
default=$("$sbin" --config '' --help | tr '\n' ' ' |
    sed -n 's/.*Without --config the file is \([^,]*\),.*/\1/p')
[ "$default" = "$TL_SYSCONFDIR/threadlined.conf" ] ||
    fail "the default config is '$default', not $TL_SYSCONFDIR/threadlined.conf"
cmp "$tmp/strip$default" "$TL_SOURCE_DIR/config/threadlined.conf" ||
    fail "the installed config is not config/threadlined.conf"
"$sbin" --config "$tmp/strip$default" --check-config >/dev/null ||
    fail "the installed config does not pass --check-config"

# The start-up line names the file read: none with --config '', else the
# installed config if this machine has one, or says it has none.
started() {
	log=$tmp/started.log
	# A log left by the last call would say ready before this server has
	# even opened it (the shell forks before the redirection truncates).
	rm -f "$log"
	"$sbin" "$@" -u root -p 0 --admin '' >"$log" 2>&1 &
	pid=$!
	tries=0
	until grep -qs ' ready: ' "$log"; do
		kill -0 $pid 2>/dev/null || { cat "$log"; fail "threadlined $*"; }
		tries=$((tries + 1))
		[ $tries -lt 100 ] || { kill $pid; fail "threadlined $* not ready in 10 s"; }
		sleep 0.1
	done
	kill $pid
	wait $pid || fail "threadlined $* did not stop with status 0"
	sed -n 's/.* config: file=\(.*\) threads=.*/\1/p' "$log"
}
[ "$(started --config '')" = "(built-in)" ] ||
    fail "--config '' does not say file=(built-in)"
if [ -e "$default" ]; then
	want=$default
else
	want="(built-in: no $default)"
fi
[ "$(started)" = "$want" ] || fail "without --config, file= is not '$want'"
echo "without --config: file=$want"

# Every page lints clean, its cross references found among the installed
# pages and the system's. mandoc notes that no mandoc.db indexes a page it
# found: that is about the machine, not the page.
man=$tmp/strip$TL_MANDIR
for page in "$man"/man*/*; do
	status=0
	MANPATH="$man:/usr/share/man" mandoc -T lint -W style "$page" \
	    >"$tmp/lint" 2>&1 || status=$?
	grep -v '^mandoc: outdated mandoc.db lacks .* entry, run makewhatis' \
	    "$tmp/lint" >"$tmp/lint.page" || true
	echo "mandoc -T lint -W style ${page#"$man"/}: exit $status," \
	    "$(wc -l <"$tmp/lint.page") messages"
	[ $status -eq 0 ] && [ ! -s "$tmp/lint.page" ] ||
	    { cat "$tmp/lint.page"; fail "mandoc -T lint $page"; }
done

# The pages list every option --help has and every key --help-config has.
mandoc -T ascii "$man/man8/threadlined.8" | col -bx >"$tmp/threadlined.8.txt"
mandoc -T ascii "$man/man5/threadlined.conf.5" | col -bx >"$tmp/conf.5.txt"
n=0
for opt in $("$sbin" --config '' --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	grep -q -e "$opt\>" "$tmp/threadlined.8.txt" ||
	    fail "threadlined(8) lacks $opt"
	n=$((n + 1))
done
k=0
for key in $("$sbin" --config '' --help-config |
    sed -n 's/^| `\([a-z_]*\)` | .*/\1/p'); do
	grep -q -E "^     $key( |\$)" "$tmp/conf.5.txt" ||
	    fail "threadlined.conf(5) lacks $key"
	k=$((k + 1))
done
echo "threadlined(8) has all $n options, threadlined.conf(5) all $k keys"

# systemd-analyze verify reads the units and their binaries under --root:
# a copy of the tree with what the units name beside it, systemd's own
# units (their dependencies) and kill (ExecReload). Its man check finds
# the pages through MANPATH.
root=$tmp/root
mkdir -p "$root/usr/lib/systemd" "$root/usr/bin"
cp -a "$tmp/strip/." "$root/"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp /usr/bin/kill "$root/usr/bin/"
[ -e "$root/bin" ] || ln -s usr/bin "$root/bin"
[ -e "$root/lib" ] || ln -s usr/lib "$root/lib"
for unit in threadlined.service threadlined@test.service; do
	status=0
	MANPATH="$man" systemd-analyze verify --root="$root" "$unit" \
	    >"$tmp/verify" 2>&1 || status=$?
	echo "systemd-analyze verify $unit: exit $status," \
	    "$(wc -l <"$tmp/verify") messages"
	[ $status -eq 0 ] && [ ! -s "$tmp/verify" ] ||
	    { cat "$tmp/verify"; fail "systemd-analyze verify $unit"; }
done
echo "PASS"
