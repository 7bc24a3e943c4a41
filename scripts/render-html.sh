#!/usr/bin/env bash
# render-html.sh REPORT.html OUT.png [WIDTHxHEIGHT]
#
# Renders a gauntlet HTML report to a PNG in headless Chromium (Debian:
# apt-get install chromium), so that a person, or a review bot, can look at
# what the report shows. The report is self-contained: Chromium is started
# with networking features off and a throw-away profile, and nothing is
# fetched.
set -euo pipefail
if [[ $# -lt 2 ]]; then
	echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
	exit 2
fi
html=$(realpath "$1")
out=$(realpath -m "$2")
size=${3:-1200x2000}
if [[ ! -f $html ]]; then
	echo "$0: $1: no such file" >&2
	exit 2
fi
browser=""
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null; then
		browser=$b
		break
	fi
done
if [[ -z $browser ]]; then
	echo "$0: no Chromium found (apt-get install chromium)" >&2
	exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$out")"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--hide-scrollbars --user-data-dir="$profile" \
	--screenshot="$out" --window-size="${size/x/,}" "file://$html" 2>/dev/null
test -s "$out"
echo "wrote $out"
