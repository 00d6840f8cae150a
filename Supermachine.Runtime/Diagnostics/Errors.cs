// One accessor per code of Strings.resx: a code that does not exist, or a wrong number of
// arguments, fails to compile. DiagnosticTableTests checks the table and these agree.
namespace Supermachine.Diagnostics;

/// <summary>The coded failures, thrown as <see cref="SupermachineException"/>.</summary>
internal static class Errors
{
    /// <summary>SM1001: Image '{0}': the registry {2} has no {1} (404). Check the repository name and tag, and that you may see it.</summary>
    public static SupermachineException RegistryNotFound(object? image, object? what, object? registry, Exception? cause = null) => Diagnostic.Create("SM1001", cause, image, what, registry);

    /// <summary>SM1002: Image '{0}': access denied by {1} ({2}). Log in with 'docker login' (credentials are read from DOCKER_CONFIG or ~/.docker/config.json) or check the repositor...</summary>
    public static SupermachineException RegistryAccessDenied(object? image, object? registry, object? reason, Exception? cause = null) => Diagnostic.Create("SM1002", cause, image, registry, reason);

    /// <summary>SM1003: Image '{0}': the registry {1} could not be reached or failed ({2}). Check the network, SUPERMACHINE_REGISTRY_MIRRORS and SUPERMACHINE_INSECURE_REGISTRIES, th...</summary>
    public static SupermachineException RegistryUnreachable(object? image, object? registry, object? reason, Exception? cause = null) => Diagnostic.Create("SM1003", cause, image, registry, reason);

    /// <summary>SM1004: Download of blob {0} from '{1}' failed after retries: {2}. Run again; what was downloaded completely is kept in the cache.</summary>
    public static SupermachineException BlobDownloadFailed(object? digest, object? source, object? reason, Exception? cause = null) => Diagnostic.Create("SM1004", cause, digest, source, reason);

    /// <summary>SM1005: The Docker credential helper 'docker-credential-{0}' failed for {1}: {2}. Fix the helper or its entry in the Docker config file.</summary>
    public static SupermachineException CredentialHelperFailed(object? helper, object? server, object? reason, Exception? cause = null) => Diagnostic.Create("SM1005", cause, helper, server, reason);

    /// <summary>SM1010: Image '{0}': {1} sent nothing for {2} s while {3}, and retrying did not help; nothing partial was kept. Check the network and the registry, then run again; o...</summary>
    public static SupermachineException RegistryStalled(object? image, object? host, object? seconds, object? what, Exception? cause = null) => Diagnostic.Create("SM1010", cause, image, host, seconds, what);

    /// <summary>SM2001: The zstd library (libzstd) could not be loaded, and this content is zstd-compressed. Install it (Debian/Ubuntu: apt-get install libzstd1; macOS: brew install...</summary>
    public static SupermachineException ZstdLibraryMissing(Exception? cause = null) => Diagnostic.Create("SM2001", cause);

    /// <summary>SM2002: '{0}' is not a valid image reference: {1}. Use a form such as redis:7, ghcr.io/owner/app:1.0, host:5000/repo@sha256:... .</summary>
    public static SupermachineException InvalidImageReference(object? reference, object? problem, Exception? cause = null) => Diagnostic.Create("SM2002", cause, reference, problem);

    /// <summary>SM2003: '{0}' is not a valid content digest; expected sha256: followed by 64 lower-case hex digits.</summary>
    public static SupermachineException InvalidDigest(object? digest, Exception? cause = null) => Diagnostic.Create("SM2003", cause, digest);

    /// <summary>SM2004: '{0}' is not a valid platform; use os/architecture[/variant], for example linux/amd64 or linux/arm64/v8.</summary>
    public static SupermachineException InvalidPlatform(object? text, Exception? cause = null) => Diagnostic.Create("SM2004", cause, text);

    /// <summary>SM2005: The image document of '{0}' is malformed: {1}. The image is broken at its source; rebuild or re-push it.</summary>
    public static SupermachineException MalformedImageDocument(object? what, object? problem, Exception? cause = null) => Diagnostic.Create("SM2005", cause, what, problem);

    /// <summary>SM2006: Image '{0}' has no manifest for platform {1}; it offers: {2}. Choose one of those with the Platform setting.</summary>
    public static SupermachineException NoManifestForPlatform(object? image, object? platform, object? offered, Exception? cause = null) => Diagnostic.Create("SM2006", cause, image, platform, offered);

    /// <summary>SM2007: Digest mismatch for {0} from '{1}': got {2}. The content was altered or truncated in transit or at its source; nothing was stored. Run again or check the reg...</summary>
    public static SupermachineException DigestMismatch(object? digest, object? source, object? got, Exception? cause = null) => Diagnostic.Create("SM2007", cause, digest, source, got);

    /// <summary>SM2008: Tag '{0}' is not in '{1}'; it has: {2}.</summary>
    public static SupermachineException TagNotInSource(object? tag, object? source, object? known, Exception? cause = null) => Diagnostic.Create("SM2008", cause, tag, source, known);

    /// <summary>SM2009: '{0}' is missing from '{1}'. Check the path, or export the image again.</summary>
    public static SupermachineException MissingInImageSource(object? what, object? path, Exception? cause = null) => Diagnostic.Create("SM2009", cause, what, path);

    /// <summary>SM2010: '{0}' in {1} is not of the form registry=http(s)://mirror[,more]; separate registries with ';'.</summary>
    public static SupermachineException InvalidMirrorSetting(object? entry, object? variable, Exception? cause = null) => Diagnostic.Create("SM2010", cause, entry, variable);

    /// <summary>SM2011: The Docker config file '{0}' could not be read: {1}. Fix or remove it.</summary>
    public static SupermachineException DockerConfigUnreadable(object? path, object? reason, Exception? cause = null) => Diagnostic.Create("SM2011", cause, path, reason);

    /// <summary>SM2012: The lock file '{0}' is invalid: {1}. Fix it or delete it to resolve the images again.</summary>
    public static SupermachineException InvalidLockFile(object? path, object? problem, Exception? cause = null) => Diagnostic.Create("SM2012", cause, path, problem);

    /// <summary>SM2013: Layer {0} of '{1}' decompresses to more than {2} bytes, the limit against decompression bombs. If the image is genuine, raise SUPERMACHINE_MAX_LAYER_BYTES.</summary>
    public static SupermachineException LayerTooLarge(object? layer, object? image, object? limit, Exception? cause = null) => Diagnostic.Create("SM2013", cause, layer, image, limit);

    /// <summary>SM2014: Layer {0} of '{1}' could not be read as a tar archive (gzip, zstd or plain): {2}. The image is broken at its source.</summary>
    public static SupermachineException LayerUnreadable(object? layer, object? image, object? reason, Exception? cause = null) => Diagnostic.Create("SM2014", cause, layer, image, reason);

    /// <summary>SM2017: SUPERMACHINE_MAX_LAYER_BYTES='{0}' is not a positive number of bytes.</summary>
    public static SupermachineException InvalidMaxLayerBytes(object? text, Exception? cause = null) => Diagnostic.Create("SM2017", cause, text);

    /// <summary>SM2020: The image source '{0}' names the {1} '{2}', which does not exist. Check the path (a relative one is taken from {3}).</summary>
    public static SupermachineException ImageSourceMissing(object? image, object? kind, object? path, object? currentDirectory, Exception? cause = null) => Diagnostic.Create("SM2020", cause, image, kind, path, currentDirectory);

    /// <summary>SM2021: '{0}' looks like a local path, not an image reference, and it {1}. Name a local image with its form: oci-layout:DIR for an OCI layout directory, oci-archive:...</summary>
    public static SupermachineException LocalPathWithoutForm(object? reference, object? state, Exception? cause = null) => Diagnostic.Create("SM2021", cause, reference, state);

    /// <summary>SM2022: Layer {0} of '{1}' decompresses to content whose digest is {2}, but the image config's rootfs.diff_ids says {3}. The image is inconsistent at its source; reb...</summary>
    public static SupermachineException DiffIdMismatch(object? layer, object? image, object? actual, object? expected, Exception? cause = null) => Diagnostic.Create("SM2022", cause, layer, image, actual, expected);

    /// <summary>SM2023: Image '{0}' has an empty index: it offers no platforms, so there is nothing to pull. Check the reference; the image is broken or was pushed incompletely at i...</summary>
    public static SupermachineException EmptyImageIndex(object? image, Exception? cause = null) => Diagnostic.Create("SM2023", cause, image);

    /// <summary>SM2024: SUPERMACHINE_NETWORK_TIMEOUT='{0}' is not a number of seconds; use a positive number up to 86400 (for example 60 or 2.5), or unset it for the 60 s default.</summary>
    public static SupermachineException InvalidNetworkTimeout(object? text, Exception? cause = null) => Diagnostic.Create("SM2024", cause, text);

    /// <summary>SM2025: The image '{0}' is for {1}, an architecture Supermachine has no guest for; it runs linux/amd64 and linux/arm64 guests. Choose one of those with the Platform ...</summary>
    public static SupermachineException UnsupportedGuestArchitecture(object? image, object? platform, Exception? cause = null) => Diagnostic.Create("SM2025", cause, image, platform);

    /// <summary>SM2101: The entry path '{0}' cannot go into a squashfs image: {1}. Paths are relative, '/'-separated, without empty, '.' or '..' components or NUL characters.</summary>
    public static SupermachineException InvalidSquashfsPath(object? path, object? reason, Exception? cause = null) => Diagnostic.Create("SM2101", cause, path, reason);

    /// <summary>SM2102: The name '{0}' is {1} bytes long in UTF-8; squashfs (like Linux) allows at most 255. Shorten or remove it.</summary>
    public static SupermachineException NameTooLong(object? name, object? bytes, Exception? cause = null) => Diagnostic.Create("SM2102", cause, name, bytes);

    /// <summary>SM2103: The entry '{0}' cannot be represented in squashfs: {1}. Change or remove it in the input.</summary>
    public static SupermachineException UnrepresentableEntry(object? path, object? reason, Exception? cause = null) => Diagnostic.Create("SM2103", cause, path, reason);

    /// <summary>SM2104: The hard link '{0}' points to '{1}', {2}. A hard link must name a non-directory entry of the same input.</summary>
    public static SupermachineException InvalidHardLink(object? path, object? target, object? reason, Exception? cause = null) => Diagnostic.Create("SM2104", cause, path, target, reason);

    /// <summary>SM2105: The entry '{0}' needs '{1}' to be a directory, but it is a {2}. Fix the order or the types of the input entries.</summary>
    public static SupermachineException ParentNotADirectory(object? path, object? parent, object? actualType, Exception? cause = null) => Diagnostic.Create("SM2105", cause, path, parent, actualType);

    /// <summary>SM2106: Writing the squashfs image '{0}' failed: {1}. Check the free space and permissions of its directory; nothing was left at that path.</summary>
    public static SupermachineException SquashfsWriteFailed(object? output, object? reason, Exception? cause = null) => Diagnostic.Create("SM2106", cause, output, reason);

    /// <summary>SM2107: Reading the content of '{0}' failed: {1}. The input changed or is unreadable; fix it and run again.</summary>
    public static SupermachineException EntryContentUnreadable(object? path, object? reason, Exception? cause = null) => Diagnostic.Create("SM2107", cause, path, reason);

    /// <summary>SM2108: '{0}' is not a readable squashfs 4.0 image: {1}. It may be truncated or corrupt; write it again.</summary>
    public static SupermachineException NotASquashfsImage(object? path, object? reason, Exception? cause = null) => Diagnostic.Create("SM2108", cause, path, reason);

    /// <summary>SM2109: Reading the directory tree at '{0}' failed: {1}. Check that it exists and that this user can read all of it (device nodes and other owners' files need root).</summary>
    public static SupermachineException DirectoryTreeUnreadable(object? root, object? reason, Exception? cause = null) => Diagnostic.Create("SM2109", cause, root, reason);

    /// <summary>SM2110: Invalid squashfs option: {0}.</summary>
    public static SupermachineException InvalidSquashfsOption(object? problem, Exception? cause = null) => Diagnostic.Create("SM2110", cause, problem);

    /// <summary>SM2111: xz compression needs the system liblzma, which could not be loaded. Install it (Debian/Ubuntu: apt-get install liblzma5; macOS: brew install xz) or choose gz...</summary>
    public static SupermachineException LzmaLibraryMissing(Exception? cause = null) => Diagnostic.Create("SM2111", cause);

    /// <summary>SM2201: The Dockerfile '{0}' has no instructions (nothing but comments or blanks up to line {1}). A Dockerfile needs at least a FROM instruction.</summary>
    public static SupermachineException DockerfileEmpty(object? file, object? line, Exception? cause = null) => Diagnostic.Create("SM2201", cause, file, line);

    /// <summary>SM2202: Dockerfile '{0}' line {1}: {2}. Fix the syntax on that line.</summary>
    public static SupermachineException DockerfileSyntax(object? file, object? line, object? problem, Exception? cause = null) => Diagnostic.Create("SM2202", cause, file, line, problem);

    /// <summary>SM2203: Dockerfile '{0}' line {1}: {2}. Fix the {3} instruction on that line.</summary>
    public static SupermachineException DockerfileInstructionInvalid(object? file, object? line, object? problem, object? keyword, Exception? cause = null) => Diagnostic.Create("SM2203", cause, file, line, problem, keyword);

    /// <summary>SM2204: Dockerfile '{0}' line {1}: unknown instruction '{2}'. Check the spelling; valid instructions are ADD, ARG, CMD, COPY, ENTRYPOINT, ENV, EXPOSE, FROM, HEALTHCH...</summary>
    public static SupermachineException DockerfileUnknownInstruction(object? file, object? line, object? word, Exception? cause = null) => Diagnostic.Create("SM2204", cause, file, line, word);

    /// <summary>SM2205: Dockerfile '{0}' line {1}: cannot expand the variables in '{2}': {3}. Quote or escape the '$', or define the variable with ARG or ENV first.</summary>
    public static SupermachineException DockerfileExpansionFailed(object? file, object? line, object? text, object? problem, Exception? cause = null) => Diagnostic.Create("SM2205", cause, file, line, text, problem);

    /// <summary>SM2206: The build target '{0}' is not a stage of the Dockerfile '{1}'. Use one of its stage names: {2}.</summary>
    public static SupermachineException BuildTargetNotAStage(object? target, object? file, object? stages, Exception? cause = null) => Diagnostic.Create("SM2206", cause, target, file, stages);

    /// <summary>SM2207: The Dockerfile '{0}' could not be read: {1}. Check the path (the -f option or the Dockerfile metadata) and its permissions.</summary>
    public static SupermachineException DockerfileUnreadable(object? path, object? reason, Exception? cause = null) => Diagnostic.Create("SM2207", cause, path, reason);

    /// <summary>SM2208: Dockerfile '{0}' line {1}: {2} comes before the first FROM. Only ARG may come before FROM; move the instruction into a stage.</summary>
    public static SupermachineException DockerfileInstructionBeforeFrom(object? file, object? line, object? keyword, Exception? cause = null) => Diagnostic.Create("SM2208", cause, file, line, keyword);

    /// <summary>SM2209: The build argument '{0}' is not of the form NAME=VALUE (or NAME, to take the value from the environment). Fix the --build-arg option or the BuildArgs metadata.</summary>
    public static SupermachineException InvalidBuildArg(object? item, Exception? cause = null) => Diagnostic.Create("SM2209", cause, item);

    /// <summary>SM2210: Dockerfile '{0}' line {1}: stage '{2}' depends on itself through {3}. Break the cycle of FROM and COPY --from references between stages.</summary>
    public static SupermachineException DockerfileStageCycle(object? file, object? line, object? stage, object? through, Exception? cause = null) => Diagnostic.Create("SM2210", cause, file, line, stage, through);

    /// <summary>SM2211: The .dockerignore file '{0}' line {1}: the pattern '{2}' is not valid ({3}). Fix or remove the pattern.</summary>
    public static SupermachineException DockerIgnorePatternInvalid(object? file, object? line, object? pattern, object? problem, Exception? cause = null) => Diagnostic.Create("SM2211", cause, file, line, pattern, problem);

    /// <summary>SM2212: The build context '{0}' could not be read while hashing '{1}': {2}. Check that the context directory exists and is readable.</summary>
    public static SupermachineException BuildContextUnreadable(object? context, object? path, object? reason, Exception? cause = null) => Diagnostic.Create("SM2212", cause, context, path, reason);

    /// <summary>SM2213: Dockerfile '{0}' line {1}: {2} '{3}' matches no file in the build context '{4}' (after .dockerignore). Check the path and the .dockerignore patterns.</summary>
    public static SupermachineException BuildSourceNotFound(object? file, object? line, object? keyword, object? source, object? context, Exception? cause = null) => Diagnostic.Create("SM2213", cause, file, line, keyword, source, context);

    /// <summary>SM2214: Dockerfile '{0}' line {1}: '{2}' {3}. Its output ends with: {4} Fix the command; the steps before it are cached, so the next build starts here.</summary>
    public static SupermachineException RunStepFailed(object? file, object? line, object? step, object? how, object? outputTail, Exception? cause = null) => Diagnostic.Create("SM2214", cause, file, line, step, how, outputTail);

    /// <summary>SM2215: Dockerfile '{0}' line {1}: '{2}' could not run in the build VM: {3}. Check that the program exists in the stage (the shell form of RUN needs /bin/sh) and tha...</summary>
    public static SupermachineException RunStepCouldNotStart(object? file, object? line, object? step, object? reason, Exception? cause = null) => Diagnostic.Create("SM2215", cause, file, line, step, reason);

    /// <summary>SM2216: Dockerfile '{0}' line {1}: the {2} '{3}' is not in the stage's {4}. Use a number, or create the {2} in an earlier RUN.</summary>
    public static SupermachineException UnknownUserOrGroup(object? file, object? line, object? kind, object? name, object? table, Exception? cause = null) => Diagnostic.Create("SM2216", cause, file, line, kind, name, table);

    /// <summary>SM2217: Dockerfile '{0}' line {1}: ADD could not download '{2}': {3}. Check the URL and the network, or put the file into the build context and ADD it from there.</summary>
    public static SupermachineException AddDownloadFailed(object? file, object? line, object? url, object? reason, Exception? cause = null) => Diagnostic.Create("SM2217", cause, file, line, url, reason);

    /// <summary>SM2218: Dockerfile '{0}' line {1}: '{2}' is a {3}-compressed archive, which ADD cannot extract here. Recompress it with gzip or zstd, or use a plain tar.</summary>
    public static SupermachineException AddArchiveUnsupported(object? file, object? line, object? path, object? compression, Exception? cause = null) => Diagnostic.Create("SM2218", cause, file, line, path, compression);

    /// <summary>SM2219: The build context '{0}' is not a directory. Pass an existing directory as CONTEXT (the Context metadata for a MicroVmImage).</summary>
    public static SupermachineException BuildContextNotADirectory(object? context, Exception? cause = null) => Diagnostic.Create("SM2219", cause, context);

    /// <summary>SM2220: Dockerfile '{0}' line {1}: ADD '{2}' has the digest {4}, not the {3} that --checksum asks for. Fix the checksum, or the URL if it serves something else now.</summary>
    public static SupermachineException AddChecksumMismatch(object? file, object? line, object? url, object? expected, object? actual, Exception? cause = null) => Diagnostic.Create("SM2220", cause, file, line, url, expected, actual);

    /// <summary>SM2230: The Dockerfile '{0}' has no FROM instruction (only ARG, up to line {1}), so it has no stage to build. Add a FROM line after the ARGs.</summary>
    public static SupermachineException DockerfileWithoutStages(object? file, object? line, Exception? cause = null) => Diagnostic.Create("SM2230", cause, file, line);

    /// <summary>SM2301: MicroVmImage '{0}' and '{1}' both have the name '{2}'. Give one of them a different Name="..." metadata.</summary>
    public static SupermachineException DuplicateImageName(object? first, object? second, object? name, Exception? cause = null) => Diagnostic.Create("SM2301", cause, first, second, name);

    /// <summary>SM2302: MicroVmImage '{0}' has the name '{1}', which is not usable as a folder name. Use letters, digits, '_', '.' and '-' (at most 100), starting with a letter, dig...</summary>
    public static SupermachineException InvalidImageName(object? reference, object? name, Exception? cause = null) => Diagnostic.Create("SM2302", cause, reference, name);

    /// <summary>SM2303: MicroVmImage '{0}' has {1}="{2}", which is not {3}. Fix the metadata on the item.</summary>
    public static SupermachineException InvalidImageMetadata(object? reference, object? metadata, object? value, object? expectation, Exception? cause = null) => Diagnostic.Create("SM2303", cause, reference, metadata, value, expectation);

    /// <summary>SM2304: MicroVmImage '{0}' has a {1} entry '{2}' without '='. Write entries as NAME=VALUE separated by ';'.</summary>
    public static SupermachineException InvalidPairEntry(object? reference, object? metadata, object? entry, Exception? cause = null) => Diagnostic.Create("SM2304", cause, reference, metadata, entry);

    /// <summary>SM2305: MicroVmImage '{0}' is not in the lock file '{1}', and SupermachineLockMode is Locked. Build once without Locked (or with SupermachineLockMode=Refresh) to rec...</summary>
    public static SupermachineException ImageNotLocked(object? reference, object? lockFile, Exception? cause = null) => Diagnostic.Create("SM2305", cause, reference, lockFile);

    /// <summary>SM2306: MSBuild could not evaluate '{0}' to read its MicroVmImage items: {1}</summary>
    public static SupermachineException ProjectEvaluationFailed(object? project, object? output, Exception? cause = null) => Diagnostic.Create("SM2306", cause, project, output);

    /// <summary>SM2320: '{0}' exists and is not a Supermachine image ({1}); choose another path or remove it. Nothing in it was changed.</summary>
    public static SupermachineException DestinationNotAnImage(object? path, object? reason, Exception? cause = null) => Diagnostic.Create("SM2320", cause, path, reason);

    /// <summary>SM2321: The output directory '{0}' {1} the build context '{2}': writing the image there would replace the context. Choose an output directory outside the context.</summary>
    public static SupermachineException OutputOverlapsContext(object? output, object? relation, object? context, Exception? cause = null) => Diagnostic.Create("SM2321", cause, output, relation, context);

    /// <summary>SM2322: The directory '{0}' is not empty; 'rootfs' would mix the image's files with what is there. Choose a new or empty directory, or pass --force to write over it.</summary>
    public static SupermachineException RootfsDirectoryNotEmpty(object? directory, Exception? cause = null) => Diagnostic.Create("SM2322", cause, directory);

    /// <summary>SM2323: '{0}' is a file, not a directory. Choose a new or empty directory to write the root filesystem into.</summary>
    public static SupermachineException RootfsTargetIsAFile(object? path, Exception? cause = null) => Diagnostic.Create("SM2323", cause, path);

    /// <summary>SM2324: The image entry '{0}' cannot be written under '{1}': {2}; Linux allows at most 255 bytes per name and 4095 per path. Write to a shorter directory path, or us...</summary>
    public static SupermachineException RootfsPathTooLong(object? entry, object? root, object? problem, Exception? cause = null) => Diagnostic.Create("SM2324", cause, entry, root, problem);

    /// <summary>SM2340: Image '{0}' has STOPSIGNAL '{1}', which is not a signal name (SIGTERM, SIGINT, SIGQUIT, SIGRTMIN+3, ...) or a number from 1 to 64. Rebuild the image with a v...</summary>
    public static SupermachineException InvalidStopSignal(object? reference, object? signal, Exception? cause = null) => Diagnostic.Create("SM2340", cause, reference, signal);

    /// <summary>SM2350: MicroVmImage '{0}': the file '{1}' is not {2}. Write HOST_PATH:GUEST_PATH[:MODE[:OWNER]] with an absolute guest path, an octal mode such as 0644 and an owner...</summary>
    public static SupermachineException InvalidFileSpec(object? reference, object? spec, object? expectation, Exception? cause = null) => Diagnostic.Create("SM2350", cause, reference, spec, expectation);

    /// <summary>SM2351: MicroVmImage '{0}': the file to put into the guest at '{2}' does not exist on the host at '{1}'. Fix the path (a relative one is taken from the project or th...</summary>
    public static SupermachineException FileToStageNotFound(object? reference, object? hostPath, object? guestPath, Exception? cause = null) => Diagnostic.Create("SM2351", cause, reference, hostPath, guestPath);

    /// <summary>SM2352: MicroVmImage '{0}': WaitForHttp="{1}" is not PORT/PATH (for example 8080/health or 80/). Give the guest port and the path a GET must answer with 2xx.</summary>
    public static SupermachineException InvalidWaitForHttp(object? reference, object? value, Exception? cause = null) => Diagnostic.Create("SM2352", cause, reference, value);

    /// <summary>SM2353: MicroVmImage '{0}': WaitForLog="{1}" is not a valid regular expression: {2}. Fix the pattern (it is .NET regex syntax, matched against each line of the workl...</summary>
    public static SupermachineException InvalidWaitForLog(object? reference, object? pattern, object? problem, Exception? cause = null) => Diagnostic.Create("SM2353", cause, reference, pattern, problem);

    /// <summary>SM2354: MicroVmFile '{0}' names the image '{1}', which no MicroVmImage item has as its Name. Set Image= to one of: {2}.</summary>
    public static SupermachineException FileForUnknownImage(object? file, object? image, object? known, Exception? cause = null) => Diagnostic.Create("SM2354", cause, file, image, known);

    /// <summary>SM2360: The alias '{0}' is already taken on the private network '{1}' (by the member at {2}). Give this VM another alias, or stop the VM that has it.</summary>
    public static SupermachineException NetworkAliasTaken(object? alias, object? network, object? holder, Exception? cause = null) => Diagnostic.Create("SM2360", cause, alias, network, holder);

    /// <summary>SM2361: {0} '{1}' is not valid: {2}.</summary>
    public static SupermachineException InvalidNetworkName(object? what, object? value, object? rule, Exception? cause = null) => Diagnostic.Create("SM2361", cause, what, value, rule);

    /// <summary>SM2400: MicroVmImage '{0}' matches the '{1}' image profile, whose server starts only once its licence is accepted. Accept it with Env="{2}=Y" on the item (--env {2}=Y on the command line), or set Profile="none" and configure the image yourself.</summary>
    public static SupermachineException ProfileNeedsOptIn(object? reference, object? profile, object? variable, Exception? cause = null) => Diagnostic.Create("SM2400", cause, reference, profile, variable);

    /// <summary>SM2370: {0}: '{1}' is neither a named volume NAME:/GUEST_PATH[:ro] (NAME of letters, digits, '_', '.' and '-', starting with a letter or digit) nor a host dir...</summary>
    public static SupermachineException StorageSpecInvalid(object? owner, object? spec, Exception? cause = null) => Diagnostic.Create("SM2370", cause, owner, spec);

    /// <summary>SM2371: {0}: the guest path '{2}' in '{1}' is not absolute. Give it from the guest's root, for example /var/lib/data.</summary>
    public static SupermachineException GuestPathNotAbsolute(object? owner, object? spec, object? path, Exception? cause = null) => Diagnostic.Create("SM2371", cause, owner, spec, path);

    /// <summary>SM2372: {0}: the host directory '{2}' in '{1}' does not exist or is not a directory. Create it first, or fix the path.</summary>
    public static SupermachineException HostDirectoryMissing(object? owner, object? spec, object? path, Exception? cause = null) => Diagnostic.Create("SM2372", cause, owner, spec, path);

    /// <summary>SM2373: The volume '{0}' ({1}) is attached read-write to another running VM (its lock {2} is held), and a volume has either one writer or only readers. A volu...</summary>
    public static SupermachineException VolumeInUse(object? name, object? file, object? lockFile, Exception? cause = null) => Diagnostic.Create("SM2373", cause, name, file, lockFile);

    /// <summary>SM2374: {0}: {1} run-time volumes and host directory mounts were asked for; a VM takes at most {2}.</summary>
    public static SupermachineException TooManyAttachments(object? owner, object? count, object? maximum, Exception? cause = null) => Diagnostic.Create("SM2374", cause, owner, count, maximum);

    /// <summary>SM2375: The image '{0}' was baked without hot-plug slots, so a restore of it cannot take run-time volumes or host directory mounts. Re-bake it with this versi...</summary>
    public static SupermachineException SnapshotWithoutHotplug(object? image, Exception? cause = null) => Diagnostic.Create("SM2375", cause, image);

    /// <summary>SM2376: {0}: '{1}' cannot be given in {2}, which takes {3}.</summary>
    public static SupermachineException StorageSpecWrongKind(object? owner, object? spec, object? where, object? expected, Exception? cause = null) => Diagnostic.Create("SM2376", cause, owner, spec, where, expected);

    /// <summary>SM2377: {0}: two volumes or mounts are mounted at '{1}'. Give each its own guest path.</summary>
    public static SupermachineException StorageTargetTwice(object? owner, object? path, Exception? cause = null) => Diagnostic.Create("SM2377", cause, owner, path);

    /// <summary>SM3001: The guest asset '{0}' was not found (looked in: {1}). In a checkout run eng/setup.sh; otherwise install the Supermachine.Runtime package for linux-x64, or se...</summary>
    public static SupermachineException GuestAssetMissing(object? asset, object? lookedIn, Exception? cause = null) => Diagnostic.Create("SM3001", cause, asset, lookedIn);

    /// <summary>SM3002: The guest agent broke the protocol: {0}. Guest data is not trusted, so the agent connection was closed; restart the VM (its console log may say more).</summary>
    public static SupermachineException AgentProtocolViolation(object? problem, Exception? cause = null) => Diagnostic.Create("SM3002", cause, problem);

    /// <summary>SM3003: The agent channel to the guest closed ({0}). The guest powered off or crashed; see its console log.</summary>
    public static SupermachineException AgentChannelClosed(object? reason, Exception? cause = null) => Diagnostic.Create("SM3003", cause, reason);

    /// <summary>SM3004: The guest could not start '{0}': {1}. Check that the command exists in the image and that the user and working directory are valid.</summary>
    public static SupermachineException ExecCouldNotStart(object? command, object? reason, Exception? cause = null) => Diagnostic.Create("SM3004", cause, command, reason);

    /// <summary>SM3005: The guest could not {0}: {1}.</summary>
    public static SupermachineException GuestOperationFailed(object? operation, object? reason, Exception? cause = null) => Diagnostic.Create("SM3005", cause, operation, reason);

    /// <summary>SM3006: Nothing listened on guest port {0} within {1}: {2}. Check the workload's log for why it did not start, and that it binds port {0}.</summary>
    public static SupermachineException PortNeverListened(object? port, object? timeout, object? reason, Exception? cause = null) => Diagnostic.Create("SM3006", cause, port, timeout, reason);

    /// <summary>SM3007: '{0}' in the guest wrote more than {1} bytes of output. Raise ExecRequest.MaxOutputBytes, or stream it with StartExecAsync.</summary>
    public static SupermachineException ExecOutputTooLarge(object? command, object? limit, Exception? cause = null) => Diagnostic.Create("SM3007", cause, command, limit);

    /// <summary>SM3008: The guest agent did not answer within {0}. The guest may not have booted (see the console log) or the channel is not the sm.agent virtio-serial port.</summary>
    public static SupermachineException AgentHelloTimeout(object? timeout, Exception? cause = null) => Diagnostic.Create("SM3008", cause, timeout);

    /// <summary>SM3009: Could not connect to 127.0.0.1:{0} inside the guest: {1}. Is the workload listening on that port? WaitForPortAsync waits until it is.</summary>
    public static SupermachineException GuestConnectFailed(object? port, object? reason, Exception? cause = null) => Diagnostic.Create("SM3009", cause, port, reason);

    /// <summary>SM3010: The guest agent speaks protocol version {0}, this runtime speaks {1}. Rebuild the initramfs with the agent shipped with this runtime (a re-bake does it).</summary>
    public static SupermachineException AgentVersionMismatch(object? theirs, object? ours, Exception? cause = null) => Diagnostic.Create("SM3010", cause, theirs, ours);

    /// <summary>SM3011: The workload could not be started: {0}. Check the image's entrypoint, command, user and working directory.</summary>
    public static SupermachineException WorkloadCouldNotStart(object? reason, Exception? cause = null) => Diagnostic.Create("SM3011", cause, reason);

    /// <summary>SM3012: The guest could not export its filesystem changes as a layer: {0}. If the guest runs an older agent, rebuild its initramfs with the agent of this runtime (a ...</summary>
    public static SupermachineException ExportChangesFailed(object? reason, Exception? cause = null) => Diagnostic.Create("SM3012", cause, reason);

    /// <summary>SM3020: The guest agent did not answer within {1} while the host waited to {0}. The guest may be hung, overloaded or misbehaving (see its console log); the operation...</summary>
    public static SupermachineException GuestOperationTimedOut(object? operation, object? timeout, Exception? cause = null) => Diagnostic.Create("SM3020", cause, operation, timeout);

    /// <summary>SM3021: The guest stopped reading the agent channel: a frame of {0} bytes could not be written within {1}. The connection was closed; restart the VM (its console log...</summary>
    public static SupermachineException GuestStoppedReading(object? bytes, object? timeout, Exception? cause = null) => Diagnostic.Create("SM3021", cause, bytes, timeout);

    /// <summary>SM3023: The host's reader of the agent channel failed ({0}), so the connection was closed. This is a bug in Supermachine: please report it with the VM's console log.</summary>
    public static SupermachineException AgentReaderFailed(object? failure, Exception? cause = null) => Diagnostic.Create("SM3023", cause, failure);

    /// <summary>SM3040: Host port {0} is already in use on 127.0.0.1, so guest port {1} cannot be published there. Choose another host port (-p OTHER:{1}), or 0 for any free one.</summary>
    public static SupermachineException HostPortInUse(object? hostPort, object? guestPort, Exception? cause = null) => Diagnostic.Create("SM3040", cause, hostPort, guestPort);

    /// <summary>SM3060: The guest network needs passt, the user-mode NAT, and '{0}' is not it. Install passt (Debian/Ubuntu: apt-get install passt), set SUPERMACHINE_PASST to its fu...</summary>
    public static SupermachineException PasstMissing(object? passt, Exception? cause = null) => Diagnostic.Create("SM3060", cause, passt);

    /// <summary>SM3061: passt ('{0}') did not start the guest's NAT: {1}. Check that passt runs on this host (passt --version), or run without a network (--network none, Network="no...</summary>
    public static SupermachineException PasstFailed(object? passt, object? reason, Exception? cause = null) => Diagnostic.Create("SM3061", cause, passt, reason);

    /// <summary>SM3062: The snapshot of '{0}' was baked with {1}, so it cannot restore with {2}: the network device is part of a snapshot. Bake it again with the network you want (t...</summary>
    public static SupermachineException SnapshotNetworkMismatch(object? name, object? baked, object? requested, Exception? cause = null) => Diagnostic.Create("SM3062", cause, name, baked, requested);

    /// <summary>SM3063: The guest could not offer host port {0} as host.supermachine.internal:{0}: {1}. Another guest process may listen on that port; choose another host port.</summary>
    public static SupermachineException HostPortNotOffered(object? port, object? reason, Exception? cause = null) => Diagnostic.Create("SM3063", cause, port, reason);

    /// <summary>SM3064: The private network '{0}' is full: its 253 addresses (10.89.0.2 to 10.89.0.254) are all taken by running VMs. Stop some, or put the new VMs on another network.</summary>
    public static SupermachineException NetworkFull(object? network, Exception? cause = null) => Diagnostic.Create("SM3064", cause, network);

    /// <summary>SM3065: The run directory '{0}' that holds private networks is not private to this user (it must be a directory with mode 0700). Remove it, or set XDG_RUNTIME_DIR to a p...</summary>
    public static SupermachineException NetworkDirectoryUnsafe(object? directory, Exception? cause = null) => Diagnostic.Create("SM3065", cause, directory);

    /// <summary>SM3090: The warmup of '{0}' ('{1}') failed with {2}. Its output ends with: {3} Fix the warmup command (it runs with sh -c in the guest after the workload is ready), ...</summary>
    public static SupermachineException WarmupFailed(object? name, object? command, object? outcome, object? output, Exception? cause = null) => Diagnostic.Create("SM3090", cause, name, command, outcome, output);

    /// <summary>SM3091: The owner '{1}' of the guest file '{0}' is not a user (or group) of the image: {2}. Use a numeric uid[:gid], or a name from the image's /etc/passwd and /etc/...</summary>
    public static SupermachineException FileOwnerUnknown(object? guestPath, object? owner, object? problem, Exception? cause = null) => Diagnostic.Create("SM3091", cause, guestPath, owner, problem);

    /// <summary>SM3101: QEMU ({0}) was not found on PATH. Install it ({1}), or set SUPERMACHINE_QEMU to the full path of {0}.</summary>
    public static SupermachineException QemuNotFound(object? executable, object? installHint, Exception? cause = null) => Diagnostic.Create("SM3101", cause, executable, installHint);

    /// <summary>SM3102: SUPERMACHINE_QEMU is set to '{0}', which is not an executable file. Point it at {1}, or unset it to search PATH.</summary>
    public static SupermachineException QemuPathInvalid(object? path, object? expected, Exception? cause = null) => Diagnostic.Create("SM3102", cause, path, expected);

    /// <summary>SM3103: '{0}' is not an accelerator. SUPERMACHINE_ACCELERATOR (and SupermachineAccelerator) take kvm, hvf, whpx, tcg or auto.</summary>
    public static SupermachineException InvalidAccelerator(object? value, Exception? cause = null) => Diagnostic.Create("SM3103", cause, value);

    /// <summary>SM3104: QEMU exited with code {0} before {1}. QEMU said: {2} Console tail: {3} Check the kernel, initramfs and rootfs paths and the messages above.</summary>
    public static SupermachineException QemuExited(object? code, object? waitingFor, object? said, object? console, Exception? cause = null) => Diagnostic.Create("SM3104", cause, code, waitingFor, said, console);

    /// <summary>SM3105: The guest kernel panicked before {0}. Console tail: {1} An init that exits, a missing kernel module or a bad initramfs causes this; check the console above.</summary>
    public static SupermachineException KernelPanicked(object? waitingFor, object? console, Exception? cause = null) => Diagnostic.Create("SM3105", cause, waitingFor, console);

    /// <summary>SM3106: The guest did not get to {0} within {1} s (QEMU is still running). Console tail: {2} Under software emulation (no KVM/HVF/WHPX) boots take seconds: raise the...</summary>
    public static SupermachineException BootTimedOut(object? waitingFor, object? seconds, object? console, Exception? cause = null) => Diagnostic.Create("SM3106", cause, waitingFor, seconds, console);

    /// <summary>SM3107: QEMU started, but its control socket '{0}' did not answer within {1} s. QEMU said: {2} Check that the runtime directory is on a local filesystem and that QEM...</summary>
    public static SupermachineException QmpNotAnswering(object? socket, object? seconds, object? said, Exception? cause = null) => Diagnostic.Create("SM3107", cause, socket, seconds, said);

    /// <summary>SM3108: QEMU refused to {0}: {1}. This is an engine error; the QEMU version ({2}) may lack a feature it needs.</summary>
    public static SupermachineException QemuRefused(object? purpose, object? reason, object? version, Exception? cause = null) => Diagnostic.Create("SM3108", cause, purpose, reason, version);

    /// <summary>SM3109: Could not connect to the VM's agent channel '{0}': {1}. The VM may have stopped; see its console log '{2}'.</summary>
    public static SupermachineException AgentChannelUnreachable(object? socket, object? reason, object? consoleLog, Exception? cause = null) => Diagnostic.Create("SM3109", cause, socket, reason, consoleLog);

    /// <summary>SM3110: The VM runtime directory '{0}' cannot be used: {1}. Give a private directory on a local filesystem with a short path (unix socket paths are limited to about ...</summary>
    public static SupermachineException RuntimeDirectoryUnusable(object? directory, object? reason, Exception? cause = null) => Diagnostic.Create("SM3110", cause, directory, reason);

    /// <summary>SM3111: A {0} guest cannot run with -accel {1} on this {2} host: a hypervisor runs only its own instruction set. Use tcg (or leave the accelerator unset: a foreign g...</summary>
    public static SupermachineException ForeignGuestAccelerator(object? guest, object? accelerator, object? host, Exception? cause = null) => Diagnostic.Create("SM3111", cause, guest, accelerator, host);

    /// <summary>SM3120: {0} was not found (looked on PATH and in {1}); the VM's writable disk needs it. Install {2} (Debian/Ubuntu: apt-get install {2}).</summary>
    public static SupermachineException DiskToolNotFound(object? tool, object? folders, object? package, Exception? cause = null) => Diagnostic.Create("SM3120", cause, tool, folders, package);

    /// <summary>SM3121: Could not {0} for the VM's writable disk '{1}': {2}. Check free disk space in that directory.</summary>
    public static SupermachineException DiskCreateFailed(object? action, object? path, object? reason, Exception? cause = null) => Diagnostic.Create("SM3121", cause, action, path, reason);

    /// <summary>SM3130: The image '{0}' has no connection string: no image profile matched it and it has no Port. Give its MicroVmImage a Port="..." or a ConnectionString="..." and build again, or call GetConnectionString(guestPort).</summary>
    public static SupermachineException NoConnectionString(object? image, Exception? cause = null) => Diagnostic.Create("SM3130", cause, image);

    /// <summary>SM3122: Could not attach {0} to the VM: {1}.</summary>
    public static SupermachineException AttachFailed(object? what, object? reason, Exception? cause = null) => Diagnostic.Create("SM3122", cause, what, reason);

    /// <summary>SM3123: The guest could not mount {0} at '{1}': {2}.</summary>
    public static SupermachineException GuestMountFailed(object? what, object? path, object? reason, Exception? cause = null) => Diagnostic.Create("SM3123", cause, what, path, reason);

    /// <summary>SM3201: '{0}' does not hold a complete engine snapshot: {1}. Re-bake the image (or take the snapshot again).</summary>
    public static SupermachineException SnapshotIncomplete(object? directory, object? reason, Exception? cause = null) => Diagnostic.Create("SM3201", cause, directory, reason);

    /// <summary>SM3202: The snapshot in '{0}' cannot be restored on this host: its {1} is '{2}' and here it is '{3}'. Re-bake the image on this host to get a snapshot that matches.</summary>
    public static SupermachineException SnapshotIncompatible(object? directory, object? what, object? theirs, object? ours, Exception? cause = null) => Diagnostic.Create("SM3202", cause, directory, what, theirs, ours);

    /// <summary>SM3203: Saving the VM state to '{0}' failed: {1}. Check free disk space and that the directory is writable.</summary>
    public static SupermachineException SnapshotSaveFailed(object? directory, object? reason, Exception? cause = null) => Diagnostic.Create("SM3203", cause, directory, reason);

    /// <summary>SM3204: Restoring the snapshot in '{0}' failed: {1} Console tail: {2} If the snapshot files were altered or truncated, re-bake the image.</summary>
    public static SupermachineException SnapshotRestoreFailed(object? directory, object? reason, object? console, Exception? cause = null) => Diagnostic.Create("SM3204", cause, directory, reason, console);

    /// <summary>SM3205: The snapshot directory '{0}' already holds a snapshot ('{1}'); choose a new or empty directory.</summary>
    public static SupermachineException SnapshotDirectoryOccupied(object? directory, object? existing, Exception? cause = null) => Diagnostic.Create("SM3205", cause, directory, existing);

    /// <summary>SM3251: '{0}' is not a baked image: it has no manifest.json. Bake it with 'supermachine bake IMAGE DIR' or build the project that declares it.</summary>
    public static SupermachineException NotABakedImage(object? directory, Exception? cause = null) => Diagnostic.Create("SM3251", cause, directory);

    /// <summary>SM3252: The manifest of the baked image '{0}' cannot be read: {1}. Re-bake the image.</summary>
    public static SupermachineException ManifestUnreadable(object? directory, object? reason, Exception? cause = null) => Diagnostic.Create("SM3252", cause, directory, reason);

    /// <summary>SM3253: The baked image '{0}' has format version {1}; this runtime reads version {2}. Re-bake it with this version (the SDK does so on the next build).</summary>
    public static SupermachineException ManifestFormatUnsupported(object? directory, object? theirs, object? ours, Exception? cause = null) => Diagnostic.Create("SM3253", cause, directory, theirs, ours);

    /// <summary>SM3254: The baked image '{0}' is damaged: '{1}' {2}. Re-bake it (delete the folder and build again).</summary>
    public static SupermachineException ImageDamaged(object? directory, object? file, object? problem, Exception? cause = null) => Diagnostic.Create("SM3254", cause, directory, file, problem);

    /// <summary>SM3255: No baked image named '{0}' in {1} (found: {2}). Add &lt;MicroVmImage Include="..." Name="{0}" /&gt; to the project and build it, or pass MicroVmImage.Load(DIR).</summary>
    public static SupermachineException BakedImageNotFound(object? name, object? root, object? found, Exception? cause = null) => Diagnostic.Create("SM3255", cause, name, root, found);

    /// <summary>SM3256: The workload of '{0}' did not become ready: {1} {2}</summary>
    public static SupermachineException WorkloadNotReady(object? name, object? reason, object? log, Exception? cause = null) => Diagnostic.Create("SM3256", cause, name, reason, log);

    /// <summary>SM9003: {0}.</summary>
    public static SupermachineException Usage(object? problem, Exception? cause = null) => Diagnostic.Create("SM9003", cause, problem);

    /// <summary>SM9004: The operation was cancelled; nothing was left half-written.</summary>
    public static SupermachineException Cancelled(Exception? cause = null) => Diagnostic.Create("SM9004", cause);

    /// <summary>SM9010: Unexpected failure in '{0}': {1}: {2}. Nothing the command wrote was left half-written; run it again with --verbose for the full trace, and report it if it r...</summary>
    public static SupermachineException UnexpectedFailure(object? command, object? type, object? reason, Exception? cause = null) => Diagnostic.Create("SM9010", cause, command, type, reason);

    /// <summary>SM9011: Baking MicroVmImage '{0}' failed (supermachine exited with {1}). Build with -v:detailed for its full output.</summary>
    public static SupermachineException BakeHostFailed(object? image, object? exitCode, Exception? cause = null) => Diagnostic.Create("SM9011", cause, image, exitCode);

    /// <summary>The codes by name, for the few callers that must tell one failure from another.</summary>
    public static class Codes
    {
        public const string RegistryNotFound = "SM1001";
        public const string RegistryAccessDenied = "SM1002";
        public const string RegistryUnreachable = "SM1003";
        public const string BlobDownloadFailed = "SM1004";
        public const string CredentialHelperFailed = "SM1005";
        public const string RegistryStalled = "SM1010";
        public const string ZstdLibraryMissing = "SM2001";
        public const string InvalidImageReference = "SM2002";
        public const string InvalidDigest = "SM2003";
        public const string InvalidPlatform = "SM2004";
        public const string MalformedImageDocument = "SM2005";
        public const string NoManifestForPlatform = "SM2006";
        public const string DigestMismatch = "SM2007";
        public const string TagNotInSource = "SM2008";
        public const string MissingInImageSource = "SM2009";
        public const string InvalidMirrorSetting = "SM2010";
        public const string DockerConfigUnreadable = "SM2011";
        public const string InvalidLockFile = "SM2012";
        public const string LayerTooLarge = "SM2013";
        public const string LayerUnreadable = "SM2014";
        public const string InvalidMaxLayerBytes = "SM2017";
        public const string ImageSourceMissing = "SM2020";
        public const string LocalPathWithoutForm = "SM2021";
        public const string DiffIdMismatch = "SM2022";
        public const string EmptyImageIndex = "SM2023";
        public const string InvalidNetworkTimeout = "SM2024";
        public const string UnsupportedGuestArchitecture = "SM2025";
        public const string InvalidSquashfsPath = "SM2101";
        public const string NameTooLong = "SM2102";
        public const string UnrepresentableEntry = "SM2103";
        public const string InvalidHardLink = "SM2104";
        public const string ParentNotADirectory = "SM2105";
        public const string SquashfsWriteFailed = "SM2106";
        public const string EntryContentUnreadable = "SM2107";
        public const string NotASquashfsImage = "SM2108";
        public const string DirectoryTreeUnreadable = "SM2109";
        public const string InvalidSquashfsOption = "SM2110";
        public const string LzmaLibraryMissing = "SM2111";
        public const string DockerfileEmpty = "SM2201";
        public const string DockerfileSyntax = "SM2202";
        public const string DockerfileInstructionInvalid = "SM2203";
        public const string DockerfileUnknownInstruction = "SM2204";
        public const string DockerfileExpansionFailed = "SM2205";
        public const string BuildTargetNotAStage = "SM2206";
        public const string DockerfileUnreadable = "SM2207";
        public const string DockerfileInstructionBeforeFrom = "SM2208";
        public const string InvalidBuildArg = "SM2209";
        public const string DockerfileStageCycle = "SM2210";
        public const string DockerIgnorePatternInvalid = "SM2211";
        public const string BuildContextUnreadable = "SM2212";
        public const string BuildSourceNotFound = "SM2213";
        public const string RunStepFailed = "SM2214";
        public const string RunStepCouldNotStart = "SM2215";
        public const string UnknownUserOrGroup = "SM2216";
        public const string AddDownloadFailed = "SM2217";
        public const string AddArchiveUnsupported = "SM2218";
        public const string BuildContextNotADirectory = "SM2219";
        public const string AddChecksumMismatch = "SM2220";
        public const string DockerfileWithoutStages = "SM2230";
        public const string DuplicateImageName = "SM2301";
        public const string InvalidImageName = "SM2302";
        public const string InvalidImageMetadata = "SM2303";
        public const string InvalidPairEntry = "SM2304";
        public const string ImageNotLocked = "SM2305";
        public const string ProjectEvaluationFailed = "SM2306";
        public const string DestinationNotAnImage = "SM2320";
        public const string OutputOverlapsContext = "SM2321";
        public const string RootfsDirectoryNotEmpty = "SM2322";
        public const string RootfsTargetIsAFile = "SM2323";
        public const string RootfsPathTooLong = "SM2324";
        public const string InvalidStopSignal = "SM2340";
        public const string InvalidFileSpec = "SM2350";
        public const string FileToStageNotFound = "SM2351";
        public const string InvalidWaitForHttp = "SM2352";
        public const string InvalidWaitForLog = "SM2353";
        public const string FileForUnknownImage = "SM2354";
        public const string NetworkAliasTaken = "SM2360";
        public const string InvalidNetworkName = "SM2361";
        public const string ProfileNeedsOptIn = "SM2400";
        public const string StorageSpecInvalid = "SM2370";
        public const string GuestPathNotAbsolute = "SM2371";
        public const string HostDirectoryMissing = "SM2372";
        public const string VolumeInUse = "SM2373";
        public const string TooManyAttachments = "SM2374";
        public const string SnapshotWithoutHotplug = "SM2375";
        public const string StorageSpecWrongKind = "SM2376";
        public const string StorageTargetTwice = "SM2377";
        public const string GuestAssetMissing = "SM3001";
        public const string AgentProtocolViolation = "SM3002";
        public const string AgentChannelClosed = "SM3003";
        public const string ExecCouldNotStart = "SM3004";
        public const string GuestOperationFailed = "SM3005";
        public const string PortNeverListened = "SM3006";
        public const string ExecOutputTooLarge = "SM3007";
        public const string AgentHelloTimeout = "SM3008";
        public const string GuestConnectFailed = "SM3009";
        public const string AgentVersionMismatch = "SM3010";
        public const string WorkloadCouldNotStart = "SM3011";
        public const string ExportChangesFailed = "SM3012";
        public const string GuestOperationTimedOut = "SM3020";
        public const string GuestStoppedReading = "SM3021";
        public const string AgentReaderFailed = "SM3023";
        public const string HostPortInUse = "SM3040";
        public const string PasstMissing = "SM3060";
        public const string PasstFailed = "SM3061";
        public const string SnapshotNetworkMismatch = "SM3062";
        public const string HostPortNotOffered = "SM3063";
        public const string NetworkFull = "SM3064";
        public const string NetworkDirectoryUnsafe = "SM3065";
        public const string WarmupFailed = "SM3090";
        public const string FileOwnerUnknown = "SM3091";
        public const string QemuNotFound = "SM3101";
        public const string QemuPathInvalid = "SM3102";
        public const string InvalidAccelerator = "SM3103";
        public const string QemuExited = "SM3104";
        public const string KernelPanicked = "SM3105";
        public const string BootTimedOut = "SM3106";
        public const string QmpNotAnswering = "SM3107";
        public const string QemuRefused = "SM3108";
        public const string AgentChannelUnreachable = "SM3109";
        public const string RuntimeDirectoryUnusable = "SM3110";
        public const string ForeignGuestAccelerator = "SM3111";
        public const string DiskToolNotFound = "SM3120";
        public const string DiskCreateFailed = "SM3121";
        public const string NoConnectionString = "SM3130";
        public const string AttachFailed = "SM3122";
        public const string GuestMountFailed = "SM3123";
        public const string SnapshotIncomplete = "SM3201";
        public const string SnapshotIncompatible = "SM3202";
        public const string SnapshotSaveFailed = "SM3203";
        public const string SnapshotRestoreFailed = "SM3204";
        public const string SnapshotDirectoryOccupied = "SM3205";
        public const string NotABakedImage = "SM3251";
        public const string ManifestUnreadable = "SM3252";
        public const string ManifestFormatUnsupported = "SM3253";
        public const string ImageDamaged = "SM3254";
        public const string BakedImageNotFound = "SM3255";
        public const string WorkloadNotReady = "SM3256";
        public const string Usage = "SM9003";
        public const string Cancelled = "SM9004";
        public const string UnexpectedFailure = "SM9010";
        public const string BakeHostFailed = "SM9011";
    }
}
