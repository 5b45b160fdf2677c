#!/bin/sh
# check_man.sh MANDIR INCLUDEDIR: the manual's own test. Fails when a
# page makes groff or man(1) warn, lacks a section its kind must have, or
# refers to a femtomsg page that does not exist; and when a function
# declared in our public headers has no page of its own. The examples are
# built and run by tests/man_examples. Rendering needs groff (groff-base)
# or man (man-db); without either the other checks still run and the test
# reports itself skipped (exit 77).
set -eu
mandir=$1 incdir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

pages=$(cd "$mandir" && ls -- *.1 *.3 *.7 2>/dev/null | sort)
[ -n "$pages" ] || { echo "FAIL: no pages in $mandir"; exit 1; }

# ------------------------------------------------------------ rendering
have_groff=false have_man=false
command -v groff >/dev/null 2>&1 && have_groff=true
command -v man >/dev/null 2>&1 && have_man=true
rendered=0
for p in $pages; do
  f=$mandir/$p
  # ".so man3/x.3" stubs: the target must be one of ours.
  if [ "$(wc -l < "$f")" -le 1 ] && grep -q '^\.so ' "$f"; then
    target=$(sed -n 's/^\.so man[137]\///p' "$f")
    [ -n "$target" ] && [ -f "$mandir/$target" ] || fail "$p: .so target missing"
    continue
  fi
  if $have_groff; then
    groff -man -ww -z "$f" > "$work/out" 2>&1 || true
    [ ! -s "$work/out" ] || { fail "$p: groff warns:"; sed 's/^/    /' "$work/out"; }
  fi
  if $have_man; then
    MANWIDTH=80 man -l --warnings=all -E UTF-8 "$f" > /dev/null 2> "$work/out" || true
    [ ! -s "$work/out" ] || { fail "$p: man warns:"; sed 's/^/    /' "$work/out"; }
  fi
  $have_groff || $have_man && rendered=$((rendered + 1))

  # Sections each kind of page must have.
  case $p in
    *.3) need="NAME|SYNOPSIS|DESCRIPTION|RETURN VALUE|ERRORS|EXAMPLE|SEE ALSO" ;;
    *.1) need="NAME|SYNOPSIS|DESCRIPTION|OPTIONS|SEE ALSO" ;;
    *) need="NAME|DESCRIPTION|SEE ALSO" ;;
  esac
  old_ifs=$IFS IFS='|'
  for sec in $need; do
    grep -q "^\.SH \"*$sec\"*\$" "$f" || fail "$p: no $sec section"
  done
  IFS=$old_ifs
  base=${p%.*} sect=${p##*.}
  grep -qi "^\.TH $base $sect " "$f" || fail "$p: .TH does not name $base $sect"

  # References to femtomsg pages must resolve.
  sed -n 's/^\.BR* \(nn_[A-Za-z_]*\|nanomsg\|nanocat\|NN_CMSG_[A-Z]*\) "*(\([137]\)).*/\1.\2/p' "$f" |
    sort -u > "$work/refs"
  while read -r ref; do
    [ -f "$mandir/$ref" ] || fail "$p: refers to $ref, which does not exist"
  done < "$work/refs"
done

# ------------------------------------------ every public function has a page
funcs=$(cat "$incdir"/nanomsg/*.h | grep '^NN_EXPORT' | sed 's/(.*//' |
  awk '{print $NF}' | tr -d '*' | sort -u)
nfuncs=0
for fn in $funcs; do
  nfuncs=$((nfuncs + 1))
  case $fn in
    *_)  # helpers behind macros (nn_cmsg_nxthdr_): named on the macros' page
      grep -l "$fn" "$mandir"/*.3 >/dev/null 2>&1 || fail "helper $fn is mentioned on no page" ;;
    *) [ -f "$mandir/$fn.3" ] || fail "$fn is declared in <nanomsg/*.h> but has no page $fn.3" ;;
  esac
done
[ "$nfuncs" -gt 20 ] || fail "found only $nfuncs functions in $incdir/nanomsg/*.h"

echo "man pages: $(echo "$pages" | wc -l) files, $rendered rendered, $nfuncs functions"
[ "$failures" -eq 0 ] || { echo "$failures problem(s)"; exit 1; }
if [ "$rendered" -eq 0 ]; then
  echo "neither groff nor man is installed: pages not rendered (skipped)"
  exit 77
fi
echo "man pages ok"
