using System.Diagnostics;
using System.Formats.Tar;
using System.Text;
using Npgsql;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Restore;

/// <summary>What Restore-PgDatabase -DataDirectory asked for. At most one target; none means "replay all archived WAL".</summary>
public sealed record PhysicalRestoreOptions
{
    public required string DataDirectory { get; init; }
    /// <summary>Move a non-empty directory aside (&lt;path&gt;.pgbt-old-&lt;timestamp&gt;); it is never deleted. The same for a non-empty tablespace directory.</summary>
    public bool Force { get; init; }
    /// <summary>
    /// Tablespaces restored elsewhere than their original location: original location (PgBackup.Tablespaces) -> new
    /// directory, as pg_basebackup's -T OLDDIR=NEWDIR. Tablespaces not named go back to their original location.
    /// </summary>
    public IReadOnlyDictionary<string, string>? TablespaceMapping { get; init; }
    /// <summary>
    /// Every tablespace into &lt;this&gt;/&lt;oid&gt;, whatever the backup's manifest says (not with
    /// <see cref="TablespaceMapping"/>): how Test-PgBackup keeps a scratch restore away from the live server's tablespaces.
    /// </summary>
    public string? TablespaceRoot { get; init; }
    public DateTimeOffset? TargetTime { get; init; }
    public string? TargetLsn { get; init; }
    public string? TargetXid { get; init; }
    public string? TargetName { get; init; }
    /// <summary>Stop as soon as the backup is consistent.</summary>
    public bool Immediate { get; init; }
    public RecoveryTargetAction TargetAction { get; init; } = RecoveryTargetAction.Promote;
    public RestoreArchiveMode ArchiveMode { get; init; } = RestoreArchiveMode.Preserve;
    /// <summary>The pgbt-wal entry point that restore_command runs.</summary>
    public required string WalEntryPoint { get; init; }
    /// <summary>Key file of an encrypted repository for restore_command (never the passphrase).</summary>
    public string? PassphraseFile { get; init; }
    /// <summary>
    /// Environment for the started server, so that restore_command (pgbt-wal) reaches an object store with the options
    /// New-PgRepository gave (<see cref="RepositoryEnvironment"/>); null: from the repository, by <see cref="PhysicalRestoreJob.StartAndWaitAsync"/>.
    /// </summary>
    public IReadOnlyDictionary<string, string>? WalEnvironment { get; init; }
    /// <summary>Written as port = N into postgresql.auto.conf.</summary>
    public int? Port { get; init; }
    /// <summary>More settings appended to postgresql.auto.conf (e.g. archive_mode = off for a drill).</summary>
    public IReadOnlyDictionary<string, string>? Settings { get; init; }
    /// <summary>
    /// Write the configuration files the backup carries from outside the data directory into it (<see cref="RestoredConfiguration"/>).
    /// Test-PgBackup writes them itself, after pg_verifybackup checked the directory against the backup's manifest.
    /// </summary>
    public bool RestoreConfiguration { get; init; } = true;
    /// <summary>Start the server (pg_ctl) and wait for recovery to end.</summary>
    public bool Start { get; init; }
    /// <summary>OS user that owns the directory and runs the server. When running as root: default 'postgres', the directory is chowned to it.</summary>
    public string? Owner { get; init; }
    public TimeSpan RecoveryTimeout { get; init; } = TimeSpan.FromMinutes(30);
    /// <summary>The role to connect as while watching recovery (default: <see cref="Owner"/>, else postgres).</summary>
    public string? Username { get; init; }
    /// <summary>Where to reach the started server while watching recovery: a host, or a Unix socket directory (default 127.0.0.1).</summary>
    public string ServerHost { get; init; } = "127.0.0.1";

    internal int TargetCount => (TargetTime is null ? 0 : 1) + (TargetLsn is null ? 0 : 1) + (TargetXid is null ? 0 : 1) + (TargetName is null ? 0 : 1) + (Immediate ? 1 : 0);
}

/// <summary>
/// Physical restore + PITR: the base tar streamed out of the store (checksums verified while streaming, decrypted and
/// decompressed) and extracted forward-only into the data directory; recovery.signal and restore_command (pgbt-wal get)
/// plus the recovery target into postgresql.auto.conf; optionally the server started and watched until recovery ends.
/// </summary>
public static class PhysicalRestoreJob
{
    /// <summary>
    /// The backup to restore when none is named: the newest physical backup of the stanza that is complete before the
    /// target. For a time, "complete" means its EndTime (set only after its WAL reached the archive, so after its
    /// consistent point) is at or before the target; for an LSN, its stop LSN is; other targets take the newest.
    /// </summary>
    public static PgBackup ChooseBackup(IEnumerable<PgBackup> backups, PhysicalRestoreOptions options, string stanza)
    {
        var candidates = backups.Where(b => b.Type == BackupType.Physical && b.Stanza == stanza && b.StopLsn is not null).ToList().AsEnumerable();
        if (!candidates.Any())
            throw new PgBackupException(FailureKind.NotFound,
                $"Stanza '{stanza}' holds no physical backup to restore. Invoke-PgBackup -Type Physical takes one, once the server archives its WAL into this repository (Enable-PgWalArchiving).", stanza);
        if (options.TargetTime is { } time) candidates = candidates.Where(b => b.EndTime <= time);
        if (options.TargetLsn is { } lsn) candidates = candidates.Where(b => Backup.Lsn.Parse(b.StopLsn!) <= Backup.Lsn.Parse(lsn));
        return candidates.OrderByDescending(b => b.EndTime).ThenByDescending(b => b.Id, StringComparer.Ordinal).FirstOrDefault()
            ?? throw new PgBackupException(FailureKind.NotFound,
                $"No physical backup in stanza '{stanza}' ends before the target {DescribeTarget(options)}. Invoke-PgBackup -Type Physical takes one; a point in time before the oldest backup cannot be recovered.", stanza);
    }

    public static Task<PgRestoreResult> RunAsync(BackupRepository repository, PgBackup backup, PhysicalRestoreOptions options, OperationContext context) =>
        RunAsync(repository, backup, options, context, plan: null);

    /// <param name="plan">The backup's WAL recovery plan when the caller built it already (one listing of the archive instead of two).</param>
    internal static async Task<PgRestoreResult> RunAsync(BackupRepository repository, PgBackup backup, PhysicalRestoreOptions options, OperationContext context, WalRecoveryPlan? plan)
    {
        var ct = context.CancellationToken;
        if (backup.Type != BackupType.Physical)
            throw new PgBackupException(FailureKind.InvalidArgument, $"Backup {backup.Id} is a {backup.Type} backup; -DataDirectory restores physical backups (Invoke-PgBackup -Type Physical).", backup.Id);
        if (options.TargetCount > 1)
            throw new PgBackupException(FailureKind.InvalidArgument, "Give at most one recovery target: -TargetTime, -TargetLsn, -TargetXid, -TargetName or -Immediate.", backup.Id);
        backup = await repository.GetAuthenticatedBackupAsync(backup, ct).ConfigureAwait(false);
        var file = backup.Files.SingleOrDefault(f => f.Name.StartsWith("base.tar", StringComparison.Ordinal))
            ?? throw new PgBackupException(FailureKind.InvalidData, $"Backup {backup.Id} has no base.tar file in its manifest.", backup.Id);

        var started = DateTimeOffset.UtcNow;
        string dataDir = Path.GetFullPath(options.DataDirectory);
        var tablespaces = TablespaceTargets.Resolve(backup, dataDir, options.TablespaceMapping, options.TablespaceRoot);
        // Before anything is written or moved: the directories may be used, and the archive can carry recovery to the target.
        CheckDirectory(dataDir, options.Force);
        tablespaces.Check(options.Force, dataDir);
        var (walThrough, mustReach) = await CheckArchiveAsync(repository, backup, options, context, plan).ConfigureAwait(false);
        // The configuration files the backup carries from outside the data directory, checked before anything is written.
        var configuration = options.RestoreConfiguration ? await RestoredConfiguration.ReadAsync(repository, backup, ct).ConfigureAwait(false) : new Dictionary<string, byte[]>();
        tablespaces.Check(options.Force, dataDir); // once more right before anything moves, as PrepareDirectory does
        string? movedAside = PrepareDirectory(dataDir, options.Force, context);
        tablespaces.MoveAside(context);
        foreach (var (tablespace, target) in tablespaces.All)
            context.Log($"Tablespace {tablespace.Name} (oid {tablespace.Oid}, originally at {tablespace.Location}) is restored into {target}.");
        var result = new PgRestoreResult
        {
            BackupId = backup.Id, Type = BackupType.Physical, Server = backup.Server, StartTime = started,
            DataDirectory = dataDir, MovedAsideTo = movedAside, Replaced = movedAside is not null, WalThrough = walThrough,
            Tablespaces = tablespaces.Count == 0 ? null : tablespaces.All.Select(t => new PgBackupTablespace { Oid = t.Tablespace.Oid, Name = t.Tablespace.Name, Location = t.Target }).ToList(),
        };

        // Extract while verifying: the checksum can only be confirmed at the end, so recovery.signal (which makes the
        // directory startable as a recovering server) is written only after the whole tar verified.
        context.Log($"Restoring backup {backup.Id} ({file.Name}, {file.Bytes:N0} bytes) into {dataDir}.");
        // A file-copy backup stores no SHA-256 of the whole tar: each file's is in its backup_manifest.
        var fileChecksums = file.Sha256 is null ? new RestoredFileChecksums(backup.Id) : null;
        await using (var content = await VerifiedBackupFileStream.OpenAsync(repository, backup, file, ct).ConfigureAwait(false))
        {
            // Synchronous reads and writes on a thread of their own: the stored bytes are read, the frames waited for
            // and the files handed to the writers without a thread-pool hop per piece.
            await Task.Factory.StartNew(() => ExtractVerified(content, dataDir, fileChecksums, tablespaces, ct), ct,
                TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
            result.RestoredBytes = content.BytesRead;
        }
        fileChecksums?.Verify(dataDir);
        if (options.RestoreConfiguration && RestoredConfiguration.Write(backup, configuration, dataDir, context).Where(File.Exists).ToList() is { Count: > 0 } written)
            result.ConfigurationFiles = written;

        WriteRecoveryConfiguration(repository, backup, dataDir, options);
        result.Target = DescribeTarget(options);
        PrepareOwnership(dataDir, options.Owner);
        foreach (var (_, target) in tablespaces.All) PrepareOwnership(target, options.Owner);
        if (options.Start) await StartAndWaitAsync(repository, dataDir, options, result, context, mustReach).ConfigureAwait(false);
        result.Duration = DateTimeOffset.UtcNow - started;
        return result;
    }

    /// <summary>
    /// Law 1 for PITR. PostgreSQL ends recovery at the first segment restore_command cannot deliver and, without a
    /// target, promotes there: a hole in the archive would make "latest" silently mean "up to the hole". So the WAL
    /// recovery will ask for is checked in the archive's listing first, along the timeline path it will follow, and a
    /// restore whose target lies beyond a missing range is refused with the range named. There is deliberately no
    /// override: recovering as far as the archive goes is asked for with a target before the hole (-TargetLsn /
    /// -TargetTime), which also makes PostgreSQL itself check that it got there.
    /// Returns the last segment recovery must read and the LSN a started server must at least reach (null: the
    /// server checks it itself, or nothing can be known beforehand).
    /// </summary>
    internal static async Task<(string WalThrough, ulong? MustReach)> CheckArchiveAsync(BackupRepository repository, PgBackup backup, PhysicalRestoreOptions options, OperationContext context, WalRecoveryPlan? plan = null)
    {
        plan ??= await BuildPlanAsync(repository, backup, context.CancellationToken).ConfigureAwait(false);
        ulong newest = Math.Max(plan.NewestSegment ?? plan.StopSegment, plan.StopSegment);
        ulong through;
        ulong? mustReach = null;
        bool known = true;
        if (options.Immediate) through = plan.StopSegment;
        else if (options.TargetLsn is { } lsnText)
        {
            ulong lsn = Backup.Lsn.Parse(lsnText);
            through = Math.Max(plan.StopSegment, plan.SegmentOf(lsn));
            mustReach = lsn;
        }
        else if (options.TargetTime is { } time) through = Math.Max(plan.StopSegment, plan.FirstArchivedAtOrAfter(time, plan.StopSegment) ?? newest);
        else if (options.TargetXid is not null || options.TargetName is not null)
        {
            // Where an xid or a restore point lies is only known by reading the WAL. PostgreSQL (13+) refuses to end
            // recovery short of such a target, so a hole after the backup's own WAL is a warning here.
            through = plan.StopSegment;
            known = false;
        }
        else
        {
            through = newest;
            mustReach = newest * (ulong)plan.SegmentSize; // recovery must at least enter the newest archived segment
        }

        // A restore that ends with the backup's own WAL needs nothing past its stop LSN.
        ulong? endLsn = options.Immediate || !known ? Backup.Lsn.Parse(backup.StopLsn!) : null;
        var gaps = plan.GapsThrough(through, endLsn);
        string target = DescribeTarget(options);
        if (gaps.Count > 0)
        {
            var first = gaps[0];
            ulong firstMissing = WalFileName.Parse(first.First).SegmentNumber(plan.SegmentSize) * (ulong)plan.SegmentSize;
            bool ownWal = WalFileName.Parse(first.First).SegmentNumber(plan.SegmentSize) <= plan.StopSegment;
            throw new WalGapException(
                $"Restore of backup {backup.Id} to {target} refused; nothing was written. WAL is missing from the archive of stanza '{backup.Stanza}' in {repository.Location}: " +
                string.Join(", ", gaps.Select(g => $"{g} on timeline {g.Timeline}")) + ". " +
                (ownWal
                    ? "The backup's own WAL is incomplete, so it can never become consistent: restore another backup (Get-PgBackup -Type Physical)."
                    : $"PostgreSQL would end recovery at {first.First} and promote there, short of the target. To recover as far as the archive goes (everything after it is lost), give a target before it: -TargetLsn below {Backup.Lsn.Format(firstMissing)} or a -TargetTime before that segment was written; or restore a backup taken after the gap. Test-PgWalArchive lists every gap."),
                first.First, gaps);
        }
        if (!known)
            foreach (var gap in plan.GapsAfter(through, endLsn))
                context.Warn($"WAL is missing from the archive after backup {backup.Id}: {gap} on timeline {gap.Timeline}. If {target} lies after it, recovery cannot reach it and the server stops with 'recovery ended before configured recovery target was reached'.");
        string walThrough = plan.SegmentName(known ? through : newest);
        context.Log($"WAL archive checked for {target}: {plan.SegmentName(plan.StartSegment)} through {plan.SegmentName(through)} continuous, timelines {string.Join(" -> ", plan.Timelines.Select(t => t.Timeline))}.");
        return (walThrough, mustReach);
    }

    /// <summary>The WAL recovery from <paramref name="backup"/> reads, along its timeline path, checked against the archive's listing.</summary>
    internal static Task<WalRecoveryPlan> BuildPlanAsync(BackupRepository repository, PgBackup backup, CancellationToken ct)
    {
        if (backup.StartLsn is null || backup.StopLsn is null || backup.Timeline is null)
            throw new PgBackupException(FailureKind.InvalidData, $"Backup {backup.Id} has no WAL range (start/stop LSN, timeline) in its manifest; it cannot be recovered.", backup.Id);
        return WalRecoveryPlan.BuildAsync(new WalArchive(repository, backup.Stanza), backup.Timeline.Value, Backup.Lsn.Parse(backup.StartLsn), Backup.Lsn.Parse(backup.StopLsn), ct);
    }

    private static void CheckDirectory(string dataDir, bool force)
    {
        if (RestoreTargetDirectory.IsEmptyOrMissing(dataDir)) return;
        if (File.Exists(Path.Combine(dataDir, "postmaster.pid")))
            throw new PgBackupException(FailureKind.InvalidArgument, $"{dataDir} holds a postmaster.pid: a server may be running on it. Stop it first (pg_ctl -D '{dataDir}' stop).", dataDir);
        if (!force)
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"The data directory {dataDir} is not empty; nothing was changed. Give an empty or new directory, or -Force to move the existing one aside (it is renamed, never deleted).", dataDir);
    }

    private static string? PrepareDirectory(string dataDir, bool force, OperationContext context)
    {
        // Once more right before moving anything: the archive check since the first one can take a while on an object
        // store, and a server may have been started in the directory meanwhile.
        CheckDirectory(dataDir, force);
        if (RestoreTargetDirectory.IsEmptyOrMissing(dataDir))
        {
            Directory.CreateDirectory(dataDir);
            return null;
        }
        string aside = RestoreTargetDirectory.MoveAside(dataDir);
        context.Log($"Moved the existing {dataDir} aside to {aside}.");
        Directory.CreateDirectory(dataDir);
        return aside;
    }

    private static void ExtractVerified(VerifiedBackupFileStream content, string dataDir, RestoredFileChecksums? checksums, TablespaceTargets tablespaces, CancellationToken ct)
    {
        try
        {
            Extract(content, dataDir, checksums, tablespaces, ct);
            // The tar ends before the stream does (zero blocks, padding): the rest is read for the checksums.
            content.CopyTo(Stream.Null);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            // A damaged stored file makes the tar unreadable too: the checksum failure is the cause to report.
            content.ThrowIfStoredBytesDiffer();
            throw;
        }
    }

    private static void Extract(Stream tar, string dataDir, RestoredFileChecksums? checksums, TablespaceTargets tablespaces, CancellationToken ct)
    {
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        string root = Path.GetFullPath(dataDir) + Path.DirectorySeparatorChar;
        using var writer = new DataDirectoryWriter(checksums, ct);
        writer.CreateDirectory(Path.GetFullPath(dataDir), owner);
        using var reader = new TarReader(tar, leaveOpen: true);
        TarEntry? entry;
        while ((entry = reader.GetNextEntry(copyData: false)) is not null)
        {
            ct.ThrowIfCancellationRequested();
            string target = Path.GetFullPath(Path.Combine(dataDir, entry.Name));
            if (!target.StartsWith(root, StringComparison.Ordinal) && target + Path.DirectorySeparatorChar != root)
                throw new PgBackupException(FailureKind.InvalidData, $"The backup's tar holds an entry outside the data directory: '{entry.Name}'.", entry.Name);
            // Owner bits only, at least read and write (PostgreSQL wants 0700 directories and 0600 files).
            var mode = entry.Mode & owner | UnixFileMode.UserRead | UnixFileMode.UserWrite;
            if (tablespaces.TryMap(entry.Name, out string mapped, out bool isRoot, out uint oid))
            {
                ExtractTablespaceEntry(entry, mapped, isRoot, oid, mode, dataDir, writer, tablespaces);
                continue;
            }
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.Name.TrimStart('.', '/') == "tablespace_map")
            {
                WriteTablespaceMap(entry, target, mode, checksums, tablespaces);
                continue;
            }
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    writer.CreateDirectory(target.TrimEnd(Path.DirectorySeparatorChar), mode | UnixFileMode.UserExecute);
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                    writer.WriteFile(target, entry.Name, mode, entry.DataStream, entry.Length);
                    break;
                case TarEntryType.SymbolicLink:
                    throw new PgBackupException(FailureKind.InvalidData, $"The backup's tar holds a symbolic link '{entry.Name}'; a physical backup carries a tablespace as the directory pg_tblspc/<oid>, never as a link.", entry.Name);
            }
        }
        writer.Complete();
    }

    /// <summary>pg_tblspc/&lt;oid&gt; becomes the link to the tablespace's target, which is created; what is below goes into the target.</summary>
    private static void ExtractTablespaceEntry(TarEntry entry, string path, bool isRoot, uint oid, UnixFileMode mode, string dataDir, DataDirectoryWriter writer, TablespaceTargets tablespaces)
    {
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                if (isRoot) Directory.CreateDirectory(Path.GetDirectoryName(path)!); // the parents as any new directory; the target itself 0700
                writer.CreateDirectory(path, mode | UnixFileMode.UserExecute);
                if (isRoot) tablespaces.CreateLink(dataDir, oid);
                break;
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile when !isRoot:
                writer.WriteFile(path, entry.Name, mode, entry.DataStream, entry.Length);
                break;
            default:
                throw new PgBackupException(FailureKind.InvalidData, $"The backup's tar holds '{entry.Name}' as a {entry.EntryType}; a tablespace is carried as directories and regular files under pg_tblspc/<oid>/.", entry.Name);
        }
    }

    /// <summary>
    /// tablespace_map as the backup's manifest lists it goes into the checksums; what is written names the tablespaces'
    /// targets (PostgreSQL makes the links in pg_tblspc from it when recovery starts, so the original locations must not
    /// be in it). A small file, written and fsynced here; the data directory is fsynced with the others.
    /// </summary>
    private static void WriteTablespaceMap(TarEntry entry, string path, UnixFileMode mode, RestoredFileChecksums? checksums, TablespaceTargets tablespaces)
    {
        if (entry.Length > 1 << 20)
            throw new PgBackupException(FailureKind.InvalidData, $"The backup's tablespace_map is {entry.Length:N0} bytes; not a tablespace map.", entry.Name);
        byte[] original = new byte[entry.Length];
        entry.DataStream?.ReadExactly(original);
        checksums?.Add(entry.Name, original.Length, System.Security.Cryptography.SHA256.HashData(original));
        byte[] rewritten = tablespaces.RewriteMap(original);
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) create.UnixCreateMode = mode;
        using (var file = new FileStream(path, create))
        {
            file.Write(rewritten);
            file.Flush(flushToDisk: true);
        }
    }

    internal static void WriteRecoveryConfiguration(BackupRepository repository, PgBackup backup, string dataDir, PhysicalRestoreOptions options)
    {
        var conf = new StringBuilder();
        conf.Append("\n# Added by PgBackupTools Restore-PgDatabase: restore of backup ").Append(backup.Id).Append(" at ").Append(DateTimeOffset.UtcNow.ToString("u")).Append('\n');
        conf.Append("restore_command = ").Append(ConfigurationFileSyntax.Quote(WalCommands.RestoreCommand(options.WalEntryPoint, repository.Location, backup.Stanza, passphraseFile: options.PassphraseFile))).Append('\n');
        if (options.TargetTime is { } time) conf.Append("recovery_target_time = ").Append(ConfigurationFileSyntax.Quote(time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.ffffff+00"))).Append('\n');
        if (options.TargetLsn is { } lsn) conf.Append("recovery_target_lsn = ").Append(ConfigurationFileSyntax.Quote(lsn)).Append('\n');
        if (options.TargetXid is { } xid) conf.Append("recovery_target_xid = ").Append(ConfigurationFileSyntax.Quote(xid)).Append('\n');
        if (options.TargetName is { } name) conf.Append("recovery_target_name = ").Append(ConfigurationFileSyntax.Quote(name)).Append('\n');
        if (options.Immediate) conf.Append("recovery_target = 'immediate'\n");
        if (backup.Timeline is not null) conf.Append("recovery_target_timeline = 'latest'\n");
        if (options.TargetCount > 0) conf.Append("recovery_target_action = ").Append(ConfigurationFileSyntax.Quote(options.TargetAction.ToString().ToLowerInvariant())).Append('\n');
        if (options.Port is { } port) conf.Append("port = ").Append(port).Append('\n');
        if (options.ArchiveMode == RestoreArchiveMode.Off) conf.Append("archive_mode = 'off'\n");
        foreach (var (k, v) in options.Settings ?? new Dictionary<string, string>()) conf.Append(k).Append(" = ").Append(ConfigurationFileSyntax.Quote(v)).Append('\n');
        string autoConf = Path.Combine(dataDir, "postgresql.auto.conf"), signal = Path.Combine(dataDir, "recovery.signal");
        File.AppendAllText(autoConf, conf.ToString());
        FileSync.SyncFile(autoConf);
        // Last, and durable: the signal makes the directory a recovering server's.
        File.WriteAllText(signal, "");
        FileSync.SyncFile(signal);
        FileSync.SyncDirectory(dataDir);
    }

    internal static string DescribeTarget(PhysicalRestoreOptions o) =>
        o.TargetTime is { } t ? $"time {t:O}" : o.TargetLsn is { } l ? $"lsn {l}" : o.TargetXid is { } x ? $"xid {x}" : o.TargetName is { } n ? $"name {n}" : o.Immediate ? "immediate" : "latest";


    /// <summary>PostgreSQL refuses to run as root and needs its directory owned by the server user: as root, chown it.</summary>
    internal static void PrepareOwnership(string dataDir, string? owner)
    {
        if (!UnixFileOwner.IsRoot) return;
        owner ??= "postgres";
        ProgramRunner.Run("chown", ["-R", $"{owner}:", dataDir], TimeSpan.FromMinutes(10));
    }

    /// <summary>Stops a server started by <see cref="StartAndWaitAsync"/> (immediate: it is thrown away or recovers again).</summary>
    public static void Stop(string dataDir, string? owner, string mode = "immediate")
    {
        string pgCtl = PgClientTools.Find("pg_ctl");
        string[] args = ["-D", dataDir, "-m", mode, "-w", "stop"];
        ProgramRunner.RunAsServerUser(owner, pgCtl, args, TimeSpan.FromMinutes(2));
    }

    /// <summary>Starts a restored directory (pg_ctl as its owner) and waits until recovery ends; fills the result's recovery fields.</summary>
    /// <param name="mustReach">An LSN recovery has to reach: short of it, the restore fails instead of reporting a promoted server.</param>
    /// <param name="repository">Where restore_command fetches from: its options reach pgbt-wal through the server's environment unless <see cref="PhysicalRestoreOptions.WalEnvironment"/> says otherwise.</param>
    public static async Task StartAndWaitAsync(BackupRepository repository, string dataDir, PhysicalRestoreOptions options, PgRestoreResult result, OperationContext context, ulong? mustReach = null)
    {
        var ct = context.CancellationToken;
        var walEnvironment = options.WalEnvironment ?? RepositoryEnvironment.For(repository.Location);
        string pgCtl = PgClientTools.Find("pg_ctl");
        string log = Path.Combine(dataDir, "log", "pgbt-restore.log");
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        if (UnixFileOwner.IsRoot) ProgramRunner.Run("chown", [$"{options.Owner ?? "postgres"}:", Path.GetDirectoryName(log)!], TimeSpan.FromSeconds(30));
        string[] ctlArgs = ["-D", dataDir, "-l", log, "-w", "-t", "600", "start"];
        context.Log($"Starting the restored server: {pgCtl} {string.Join(' ', ctlArgs)}");
        // pg_ctl -w returns once the server accepts connections: in recovery, or already done, or (Shutdown) gone again.
        try
        {
            ProgramRunner.RunAsServerUser(options.Owner, pgCtl, ctlArgs, TimeSpan.FromMinutes(11), walEnvironment);
        }
        catch (PgBackupException e) when (options.TargetAction != RecoveryTargetAction.Shutdown)
        {
            throw ServerStopped(e.Message, log, options, e);
        }
        catch (PgBackupException) { }

        // Without -Port the server listens where the restored configuration says (the source's port, not always 5432):
        // postmaster.pid names the port it bound, so the watch below reaches this server and never another one.
        int port = ListeningPort(dataDir) ?? options.Port ?? 5432;
        var sw = Stopwatch.StartNew();
        if (options.TargetAction == RecoveryTargetAction.Shutdown && options.TargetCount > 0)
        {
            while (File.Exists(Path.Combine(dataDir, "postmaster.pid")))
            {
                if (sw.Elapsed > options.RecoveryTimeout) throw RecoveryTimeout(log, options);
                await Task.Delay(200, ct).ConfigureAwait(false);
            }
            result.RecoveryState = "shut down at target";
            return;
        }
        // The restored server has the backed-up one's roles and pg_hba.conf: this session's PGPASSWORD or ~/.pgpass may be wanted.
        var info = PgConnectionInfo.Resolve(host: options.ServerHost, port: port, username: options.Username ?? options.Owner ?? "postgres", database: "postgres",
            environment: new Dictionary<string, string?> { ["PGPASSWORD"] = Environment.GetEnvironmentVariable("PGPASSWORD") });
        while (true)
        {
            if (sw.Elapsed > options.RecoveryTimeout) throw RecoveryTimeout(log, options);
            try
            {
                await using var conn = new NpgsqlConnection(info.ToNpgsqlConnectionString() + ";Pooling=false");
                await conn.OpenAsync(ct).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand("""
                    SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE 'not paused' END, pg_last_wal_replay_lsn()::text,
                           CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
                           CASE WHEN pg_is_in_recovery() THEN NULL ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END,
                           pg_last_xact_replay_timestamp()
                    """, conn);
                await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await r.ReadAsync(ct).ConfigureAwait(false);
                bool inRecovery = r.GetBoolean(0);
                string pause = r.GetString(1);
                if (!inRecovery || pause == "paused")
                {
                    result.ReachedLsn = r.IsDBNull(2) ? null : r.GetString(2);
                    result.CurrentLsn = r.IsDBNull(3) ? null : r.GetString(3);
                    result.Timeline = r.IsDBNull(4) ? null : Convert.ToUInt32(r.GetString(4), 16);
                    result.ReachedTime = r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5);
                    result.RecoveryState = inRecovery ? "paused" : "promoted";
                    result.Port = port;
                    context.Log($"Recovery ended ({result.RecoveryState}) at {result.ReachedLsn}, timeline {result.Timeline}, after {sw.Elapsed.TotalSeconds:F1} s.");
                    if (mustReach is { } needed && (result.ReachedLsn is null || Backup.Lsn.Parse(result.ReachedLsn) < needed))
                        throw new WalGapException(
                            $"Recovery stopped short: the restored server {result.RecoveryState} at {result.ReachedLsn ?? "(nothing replayed)"}, but the archive held WAL through {result.WalThrough} (at least {Backup.Lsn.Format(needed)}) for {DescribeTarget(options)}. " +
                            $"A segment could not be fetched or was removed while recovery ran: check Test-PgWalArchive and the server log {log}. The server is left running on port {port} in {dataDir} for inspection; do not use it as the recovered database.",
                            result.WalThrough ?? dataDir, []);
                    return;
                }
            }
            catch (NpgsqlException e) when (PgServer.IsLoginRefused(e))
            {
                throw new PgBackupException(FailureKind.PermissionDenied,
                    $"The restored server is running (data directory {dataDir}, port {port}), but it refused PgBackupTools' connection as '{info.Username}' through {info.Host}: {e.Message} " +
                    $"Recovery goes on without it: follow it in {log}. For Restore-PgDatabase -Start to report where recovery ended, give that role's password in PGPASSWORD or ~/.pgpass (the restored server has the backed-up one's roles and pg_hba.conf).",
                    dataDir, e);
            }
            catch (NpgsqlException e) when (e is not PostgresException || e is PostgresException { SqlState: "57P03" }) // starting up, or still replaying before consistency
            {
                // A server that ends recovery with FATAL (e.g. "recovery ended before configured recovery target was reached") is gone: say why now, not after the timeout.
                if (!File.Exists(Path.Combine(dataDir, "postmaster.pid"))) throw ServerStopped("The restored server stopped during recovery.", log, options, e);
            }
            await Task.Delay(250, ct).ConfigureAwait(false);
        }
    }

    private static PgBackupException ServerStopped(string what, string log, PhysicalRestoreOptions options, Exception inner)
    {
        string tail = Tail(log);
        string why = tail.Contains("recovery ended before configured recovery target was reached", StringComparison.Ordinal)
            ? $" Recovery ran out of archived WAL before reaching {DescribeTarget(options)}: the target lies after the newest archived WAL or beyond a gap (Test-PgWalArchive names gaps). " +
              "A target near the present is usually in WAL the source server has not archived yet (a segment is archived only once full or switched): " +
              "run SELECT pg_switch_wal(); on the source server, wait until that segment is archived (Test-PgWalArchive, or last_archived_wal in pg_stat_archiver), then restore again."
            : tail.Contains("could not access the server configuration file", StringComparison.Ordinal)
            ? " The backup holds no postgresql.conf: its server keeps the configuration outside the data directory (Debian and Ubuntu: /etc/postgresql/<version>/<cluster>, with pg_hba.conf and pg_ident.conf). " +
              $"Restored into that cluster's own data directory, start it with pg_ctlcluster. Elsewhere, copy that directory's postgresql.conf, pg_hba.conf, pg_ident.conf and conf.d into {options.DataDirectory}, " +
              "comment out data_directory, hba_file, ident_file and external_pid_file in the copy (they name the original cluster's files), then start it with pg_ctl: recovery begins as restored."
            : PortTaken(tail, options) is { } port
            ? $" Port {port} is taken: another server or program already listens on it (often the server the backup came from, on the same host). " +
              $"Nothing has to be restored again: set a free port in {Path.Combine(options.DataDirectory, "postgresql.auto.conf")} (port = N) and start it with pg_ctl start -D {options.DataDirectory}, " +
              "or restore again with -Force and -Port <a free port> (Restore-PgDatabase writes -Port there as port = N)."
            : MissingSocketDirectory.Match(tail) is { Success: true } socket
            ? $" The socket directory {socket.Groups[1].Value} that the restored configuration names (unix_socket_directories) does not exist on this host. " +
              $"Nothing has to be restored again: create it, writable by the server's user, or set unix_socket_directories = '<an existing directory>' in {Path.Combine(options.DataDirectory, "postgresql.auto.conf")}; then start it with pg_ctl start -D {options.DataDirectory}: recovery begins as restored."
            : tail.Contains("recovery stops here rather than end early", StringComparison.Ordinal)
            ? $" restore_command could not fetch a WAL segment that is in the archive (the pgbt-wal line in the log says why), so recovery stopped instead of promoting without it. Fix the cause, then start the server again (pg_ctl start -D {options.DataDirectory}): recovery resumes where it stopped."
            : "";
        return new PgBackupException(FailureKind.ToolFailed, $"{what}{why}\nServer log {log}:\n{tail}", log, inner);
    }

    /// <summary>
    /// The port a server that could not start found taken: "could not bind ... Address already in use" (with the hint's
    /// "port N", else the configured one), or another postmaster's socket lock file (.s.PGSQL.N.lock). Null otherwise.
    /// </summary>
    internal static int? PortTaken(string logTail, PhysicalRestoreOptions options)
    {
        var lockFile = System.Text.RegularExpressions.Regex.Match(logTail, @"lock file ""[^""]*\.s\.PGSQL\.(\d+)\.lock"" already exists");
        if (lockFile.Success) return int.Parse(lockFile.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (!logTail.Contains("could not bind", StringComparison.Ordinal) && !logTail.Contains("Address already in use", StringComparison.Ordinal)) return null;
        var hint = System.Text.RegularExpressions.Regex.Match(logTail, @"already running on port (\d+)");
        return hint.Success ? int.Parse(hint.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : options.Port ?? 5432;
    }

    private static readonly System.Text.RegularExpressions.Regex MissingSocketDirectory =
        new(@"could not create lock file ""(.*)/\.s\.PGSQL\.\d+\.lock"": No such file or directory", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>The port in a running server's postmaster.pid (its fourth line), or null when there is none to read.</summary>
    internal static int? ListeningPort(string dataDir)
    {
        try
        {
            var lines = File.ReadAllLines(Path.Combine(dataDir, "postmaster.pid"));
            return lines.Length > 3 && int.TryParse(lines[3].Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) && port > 0 ? port : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static PgBackupException RecoveryTimeout(string log, PhysicalRestoreOptions options) =>
        new(FailureKind.OperationFailed, $"Recovery did not end within {options.RecoveryTimeout.TotalMinutes:F0} min. Server log {log}:\n{Tail(log)}", log);

    private static string Tail(string path)
    {
        try { var lines = File.ReadAllLines(path); return string.Join('\n', lines.TakeLast(30)); }
        catch (IOException) { return "(no log)"; }
        catch (UnauthorizedAccessException) { return "(log unreadable)"; }
    }
}

/// <summary>WAL a restore needs is missing from the archive (before the restore: nothing written), or recovery stopped short of it.</summary>
public sealed class WalGapException(string message, string target, IReadOnlyList<PgWalGap> gaps) : PgBackupException(FailureKind.InvalidData, message, target)
{
    public IReadOnlyList<PgWalGap> Gaps { get; } = gaps;
}
