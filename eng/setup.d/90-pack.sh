# Packs Supermachine.Runtime, Supermachine.Sdk and the Supermachine.Cli tool into artifacts/packages, the local feed that
# nuget.config puts first. Skipped when nothing that goes into the packages changed.
pack_inputs=(Directory.Build.props global.json eng/GuestAssets.targets Supermachine.Runtime Supermachine.Tasks Supermachine.Sdk guest)
pack_hash="$(content_hash "${pack_inputs[@]}")-$(ls "$SUPERMACHINE_SETUP_CACHE"/assets 2>/dev/null | md5sum | cut -c1-8)"
stamp="$REPO_ROOT/artifacts/packages/.stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pack_hash" ] && ls "$REPO_ROOT"/artifacts/packages/Supermachine.Sdk.*.nupkg >/dev/null 2>&1; then
  log "packages up to date ($pack_hash)"
else
  log "packing to artifacts/packages"
  rm -f "$REPO_ROOT"/artifacts/packages/*.nupkg
  dotnet pack "$REPO_ROOT/Supermachine.Sdk/Supermachine.Sdk.csproj" -c Release -nologo -v quiet
  dotnet pack "$REPO_ROOT/Supermachine.Runtime/Supermachine.Runtime.csproj" -c Release -nologo -v quiet
  # The command line as a .NET tool: dotnet tool install --global Supermachine.Cli (command: supermachine).
  dotnet pack "$REPO_ROOT/Supermachine.Tasks/Supermachine.Tasks.csproj" -c Release -nologo -v quiet
  # The version number stays the same between packs, so drop the copies NuGet extracted before:
  # consumers must see these bits, not yesterday's.
  version="$(sed -n 's:.*<SupermachineVersion>\(.*\)</SupermachineVersion>.*:\1:p' "$REPO_ROOT/Directory.Build.props")"
  for id in supermachine.sdk supermachine.runtime supermachine.cli; do
    rm -rf "${NUGET_PACKAGES:-$HOME/.nuget/packages}/$id/$version"
  done
  echo "$pack_hash" > "$stamp"
fi
