#!/usr/bin/env bash
# Reproduces the Dockerfile's build stage without a Docker engine, so that a Dockerfile that
# forgets a file (as it once forgot the workspace member bench/) fails CI.
#
# It reads the Dockerfile itself — no second list to keep in step: every instruction of the
# first stage is replayed in order in a scratch directory standing for its WORKDIR. COPY copies
# exactly what it names from the build context (the repository minus .dockerignore); RUN runs
# the same shell line. An instruction the script does not know fails it, so the check cannot
# silently drift from the Dockerfile.
#
# Speed: the stage's `cargo build --release …` runs as `cargo check …` (same --locked and
# --bin; `strip` is skipped), because a release build of the whole dependency tree is too slow
# for CI on two shared cores. Both stop on the same missing manifest, source or lock change.
# DOCKER_CHECK_FULL=1 runs the real release build and strip instead. The scratch directory
# and its target directory stay (target/docker-check/) and are reused by the next run, so only
# what changed is checked again.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dockerfile="${DOCKERFILE:-$repo/Dockerfile}"  # DOCKERFILE=… checks another one
base="${DOCKER_CHECK_DIR:-$repo/target/docker-check}"
ctx="$base/context"     # the build context as Docker sees it (.dockerignore applied)
work="$base/work"       # the builder's WORKDIR
target="$base/target"   # kept between runs; the stage's ./target points here
shims="$base/shims"

die() { echo "docker-build-check: $*" >&2; exit 1; }

# ---- the build context: the repository without what .dockerignore leaves out ---------------
# .dockerignore patterns are relative to the context root; `**/x` matches at any depth.
excludes=()
if [[ -f "$repo/.dockerignore" ]]; then
  while IFS= read -r pat || [[ -n "$pat" ]]; do
    pat="${pat%%#*}"; pat="${pat//[[:space:]]/}"
    [[ -z "$pat" ]] && continue
    [[ "$pat" == !* ]] && die ".dockerignore exceptions (!) are not supported; extend this script"
    if [[ "$pat" == '**/'* ]]; then excludes+=("--exclude=${pat#\*\*/}"); else excludes+=("--exclude=/${pat#/}"); fi
  done < "$repo/.dockerignore"
fi
mkdir -p "$ctx" "$work" "$target" "$shims"
rsync -a --delete "${excludes[@]}" --exclude=/target "$repo/" "$ctx/"

# A fresh WORKDIR each run, as in Docker; only the target directory survives.
find "$work" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
ln -sfn "$target" "$work/target"

# ---- cargo and strip as the check runs them --------------------------------------------------
real_cargo="$(command -v cargo)"
cat > "$shims/cargo" <<EOF
#!/usr/bin/env bash
# docker-build-check: \`cargo build --release …\` → \`cargo check …\` unless DOCKER_CHECK_FULL=1.
if [[ "\${DOCKER_CHECK_FULL:-0}" != 1 && "\${1:-}" == build ]]; then
  shift
  args=()
  for a in "\$@"; do [[ "\$a" == --release ]] || args+=("\$a"); done
  echo "+ cargo check \${args[*]}  (the Dockerfile says: cargo build \$*)" >&2
  exec "$real_cargo" check "\${args[@]}"
fi
exec "$real_cargo" "\$@"
EOF
cat > "$shims/strip" <<EOF
#!/usr/bin/env bash
if [[ "\${DOCKER_CHECK_FULL:-0}" != 1 ]]; then echo "+ strip skipped (check mode)" >&2; exit 0; fi
exec "$(command -v strip || echo strip)" "\$@"
EOF
chmod +x "$shims/cargo" "$shims/strip"

# ---- replay the first stage ------------------------------------------------------------------
# Join continuation lines, drop comments and blank lines; stop at the second FROM.
mapfile -t instructions < <(awk '
  /^[[:space:]]*#/ && !cont { next }
  { line = cont ? line " " $0 : $0 }
  /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, "", line); cont = 1; next }
  { cont = 0; if (line ~ /[^[:space:]]/) print line; line = "" }
' "$dockerfile")

stages=0
workdir=""
copied=0
for ins in "${instructions[@]}"; do
  keyword="${ins%%[[:space:]]*}"; keyword="${keyword^^}"
  rest="${ins#*[[:space:]]}"; rest="${rest#"${rest%%[![:space:]]*}"}"
  case "$keyword" in
    FROM)
      stages=$((stages + 1))
      [[ $stages -gt 1 ]] && break
      echo "== replaying the build stage: FROM $rest (here: the local toolchain, $("$real_cargo" --version))"
      ;;
    WORKDIR)
      [[ -n "$workdir" ]] && die "a second WORKDIR in the build stage is not supported; extend this script"
      workdir="$rest"
      ;;
    ENV)
      # ENV KEY=VALUE …
      for kv in $rest; do export "${kv?}"; done
      ;;
    ARG) ;;
    COPY)
      read -r -a words <<<"$rest"
      args=()
      for w in "${words[@]}"; do
        case "$w" in
          --from=*) die "COPY $rest: --from in the build stage is not supported" ;;
          --*) ;;  # --chown, --chmod, --link: no effect on what is built
          *) args+=("$w") ;;
        esac
      done
      [[ ${#args[@]} -ge 2 ]] || die "cannot read: COPY $rest"
      dest="${args[-1]}"; unset 'args[-1]'
      [[ "$dest" == /* ]] && die "COPY $rest: absolute destinations are not supported"
      echo "+ COPY ${args[*]} $dest"
      for src in "${args[@]}"; do
        [[ -e "$ctx/$src" ]] || die "COPY $rest: $src is not in the build context (docker build fails here too)"
        if [[ -d "$ctx/$src" ]]; then
          mkdir -p "$work/$dest"
          cp -a "$ctx/$src/." "$work/$dest/"
        elif [[ "$dest" == */ || ${#args[@]} -gt 1 ]]; then
          mkdir -p "$work/$dest"
          cp -a "$ctx/$src" "$work/$dest"
        else
          mkdir -p "$(dirname "$work/$dest")"
          cp -a "$ctx/$src" "$work/$dest"
        fi
      done
      copied=$((copied + 1))
      ;;
    RUN)
      [[ -n "$workdir" ]] || die "RUN before WORKDIR is not supported"
      # The stage's RUN lines work relative to the WORKDIR, which is the scratch directory here.
      if [[ " $rest " =~ [[:space:]=]"$workdir"(/|[[:space:]]) ]]; then
        die "RUN $rest: absolute paths under WORKDIR $workdir are not supported; use relative ones"
      fi
      echo "+ RUN $rest"
      (cd "$work" && PATH="$shims:$PATH" CARGO_TARGET_DIR="$target" sh -ec "$rest")
      ;;
    *)
      die "instruction $keyword in the build stage is not replayed by this script; extend it"
      ;;
  esac
done
[[ $stages -ge 1 && $copied -ge 1 ]] || die "no build stage with COPY found in $dockerfile"
echo "== the Dockerfile's build stage succeeds (copied from $ctx, built in $work)"
