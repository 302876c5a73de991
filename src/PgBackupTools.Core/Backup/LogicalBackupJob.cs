using Npgsql;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// A logical backup of one database: pg_dump streamed straight into the repository (plain and custom) or written
/// into it (directory), with SHA-256 of raw and stored bytes, and exact per-table row counts taken in the very
/// snapshot pg_dump dumps. The manifest is written last; until then the backup does not exist.
/// </summary>
public static class LogicalBackupJob
{
    public static async Task<PgBackup> RunAsync(BackupRepository repository, PgConnectionInfo server, LogicalBackupOptions options, OperationContext context)
    {
        var ct = context.CancellationToken;
        RepositoryNames.ValidateStanza(options.Stanza);
        var connection = server.WithDatabase(options.Database);
        await using var snapshotConnection = await PgServer.OpenAsync(connection, ct).ConfigureAwait(false);
        var facts = await PgServer.GetFactsAsync(snapshotConnection, ct).ConfigureAwait(false);
        string pgDump = PgClientTools.Find("pg_dump", facts.MajorVersion);
        int pgDumpVersion = PgClientTools.MajorVersionOf(pgDump);
        ValidateCompression(options, pgDumpVersion);
        EncryptionKey? key = repository.IsEncrypted ? repository.RequireKey() : null;
        if (key is not null && options.Format == DumpFormat.Directory)
        {
            // pg_dump writes a directory archive's files itself and pg_restore reads them itself (it seeks and runs
            // workers on them), so they could only be encrypted afterwards and decrypted to plaintext files again for
            // every restore. Refused rather than half-protected.
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"The repository at {repository.Location} is encrypted, and -Format Directory cannot be encrypted (pg_dump and pg_restore read and write its files directly). Use -Format Custom or Plain.",
                options.Format);
        }

        if (options.Format == DumpFormat.Directory && repository.Store.TryGetLocalPath(BackupRepository.InfoKey) is null)
        {
            // pg_restore seeks in and runs workers on a directory archive's files; staging a whole dump locally would
            // break "no temp copy of a whole backup". Custom archives stream to and from object stores instead.
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"The repository {repository.Location} is an object store, and -Format Directory needs a file-system repository (pg_dump and pg_restore read and write its files directly). Use -Format Custom, which streams.",
                options.Format);
        }

        await using var snapshot = await snapshotConnection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        await using (var ro = new NpgsqlCommand("SET TRANSACTION READ ONLY", snapshotConnection, snapshot)) await ro.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        string snapshotId;
        await using (var export = new NpgsqlCommand("SELECT pg_export_snapshot()", snapshotConnection, snapshot))
            snapshotId = (string)(await export.ExecuteScalarAsync(ct).ConfigureAwait(false))!;

        var backup = BackupRecord.Start(BackupType.Logical, options.Stanza, server, facts, repository, key, options.Labels);
        backup.Database = options.Database;
        backup.Format = options.Format;
        backup.Compression = options.Compression;
        backup.DatabaseEncoding = facts.Encoding;
        backup.DatabaseCollate = facts.Collate;
        backup.DatabaseCtype = facts.Ctype;
        backup.ClientVersion = pgDump;
        context.Log($"Backup {backup.Id}: {options.Format} dump of '{options.Database}' on {server.Server} (PostgreSQL {backup.ServerVersion}) into {repository.Location}, snapshot {snapshotId}.");

        try
        {
            var meter = new ProgressMeter(context, $"Backup of database '{options.Database}'", facts.DatabaseSizeBytes) { Status = "pg_dump" };
            if (options.Format == DumpFormat.Plain)
            {
                // Rows are counted from the COPY blocks of the dump itself, so the server is not read twice.
                var tables = await PgServer.ListTablesAsync(snapshotConnection, ct).ConfigureAwait(false);
                var counter = new PlainDumpRowCounter();
                backup.Files.Add(await DumpToStreamAsync(repository, connection, pgDump, snapshotId, pgDumpVersion, backup, options, meter, context, counter).ConfigureAwait(false));
                backup.TableRowCounts = await CountsFromDumpAsync(snapshotConnection, tables, counter, context).ConfigureAwait(false);
            }
            else
            {
                var counting = PgServer.CountTableRowsAsync(snapshotConnection, ct);
                if (options.Format == DumpFormat.Directory)
                    backup.Files.AddRange(await DumpDirectoryAsync(repository, connection, pgDump, snapshotId, pgDumpVersion, backup, options, meter, context).ConfigureAwait(false));
                else
                    backup.Files.Add(await DumpToStreamAsync(repository, connection, pgDump, snapshotId, pgDumpVersion, backup, options, meter, context, null).ConfigureAwait(false));
                backup.TableRowCounts = await counting.ConfigureAwait(false);
            }
            await snapshot.RollbackAsync(ct).ConfigureAwait(false);
            backup.EndTime = DateTimeOffset.UtcNow;
            await repository.CommitBackupAsync(backup, ct).ConfigureAwait(false);
            context.Log($"Backup {backup.Id} committed: {backup.SizeBytes:N0} bytes dumped, {backup.StoredBytes:N0} stored, {backup.TableRowCounts.Count} tables counted, in {backup.Duration.TotalSeconds:F1} s.");
            return backup;
        }
        catch
        {
            await repository.AbandonUnfinishedAsync(backup, context).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The dump's own counts for every table; a table the dump has no COPY block for is counted in the snapshot.</summary>
    private static async Task<SortedDictionary<string, long>> CountsFromDumpAsync(NpgsqlConnection snapshotConnection, List<string> tables,
        PlainDumpRowCounter counter, OperationContext context)
    {
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            if (counter.Counts.TryGetValue(table, out long rows)) { counts[table] = rows; continue; }
            context.Log($"The dump has no COPY block for {table}; counting its rows in the snapshot.");
            counts[table] = await PgServer.CountRowsAsync(snapshotConnection, table, context.CancellationToken).ConfigureAwait(false);
        }
        return counts;
    }

    private static void ValidateCompression(LogicalBackupOptions options, int pgDumpVersion)
    {
        if (options.Format != DumpFormat.Plain && options.Compression is CompressionKind.Zstd or CompressionKind.Lz4 && pgDumpVersion < 16)
        {
            // Custom and directory archives are compressed by pg_dump itself so that stock pg_restore reads them.
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"{options.Format} dumps are compressed by pg_dump, which supports {options.Compression} from version 16 on (this pg_dump is {pgDumpVersion}). Use -Compression Gzip or None, or -Format Plain.",
                options.Compression);
        }
        if (options.Jobs > 1 && options.Format != DumpFormat.Directory)
            throw new PgBackupException(FailureKind.InvalidArgument, "-Jobs above 1 needs -Format Directory: only directory dumps are written by parallel pg_dump workers.", options.Jobs);
    }

    /// <summary>pg_dump's -Z value: a bare level before version 16, "method[:level]" from 16 on.</summary>
    private static string PgDumpCompression(LogicalBackupOptions options, int pgDumpVersion) => options.Compression switch
    {
        CompressionKind.None => "0",
        CompressionKind.Gzip when pgDumpVersion < 16 => (options.CompressionLevel ?? 6).ToString(),
        CompressionKind.Gzip => options.CompressionLevel is int l ? $"gzip:{l}" : "gzip",
        CompressionKind.Zstd => options.CompressionLevel is int l ? $"zstd:{l}" : "zstd",
        CompressionKind.Lz4 => options.CompressionLevel is int l ? $"lz4:{l}" : "lz4",
        _ => "0",
    };

    private static async Task<PgBackupFile> DumpToStreamAsync(BackupRepository repository, PgConnectionInfo connection, string pgDump,
        string snapshotId, int pgDumpVersion, PgBackup backup, LogicalBackupOptions options, ProgressMeter meter, OperationContext context, PlainDumpRowCounter? counter)
    {
        var ct = context.CancellationToken;
        bool plain = options.Format == DumpFormat.Plain;
        // Plain SQL is compressed by us (so it stays a .sql.gz that gunzip reads); custom archives by pg_dump (so pg_restore reads them).
        var encoding = plain ? options.Compression : CompressionKind.None;
        string fileName = plain ? "database.sql" + Compression.FileExtension(encoding) : "database.dump";
        EncryptionKey? encryptionKey = repository.IsEncrypted ? repository.RequireKey() : null;
        if (encryptionKey is not null) fileName += BackupRepository.EncryptedExtension;
        var args = new List<string> { "--no-password", "--snapshot=" + snapshotId, "-F", plain ? "p" : "c" };
        if (!plain) args.AddRange(["-Z", PgDumpCompression(options, pgDumpVersion)]);
        args.AddRange(["-d", connection.ToLibpqDatabaseArgument()]);
        context.Log($"Running {pgDump} {string.Join(' ', args)} -h {connection.Host} -p {connection.Port} -U {connection.Username}");

        string key = BackupRepository.BackupFileKey(backup.Stanza, backup.Id, fileName);
        await using var dump = PgToolProcess.Start(pgDump, connection, args);
        var file = await ToolOutputWriter.WriteAsync(repository, key, dump, encoding, options.CompressionLevel, encryptionKey, meter,
            counter is null ? null : data => { counter.Observe(data.Span); return ValueTask.CompletedTask; }, null, ct).ConfigureAwait(false);
        file.Name = fileName;
        return file;
    }

    private static async Task<List<PgBackupFile>> DumpDirectoryAsync(BackupRepository repository, PgConnectionInfo connection, string pgDump,
        string snapshotId, int pgDumpVersion, PgBackup backup, LogicalBackupOptions options, ProgressMeter meter, OperationContext context)
    {
        var ct = context.CancellationToken;
        const string dirName = "database.dir";
        var folder = repository.Store.TryGetLocalPath(BackupRepository.BackupFileKey(backup.Stanza, backup.Id, dirName))
            ?? throw new PgBackupException(FailureKind.InvalidArgument, "-Format Directory needs a file-system repository; use -Format Custom for object stores.", repository.Location);
        Directory.CreateDirectory(Path.GetDirectoryName(folder)!);
        var args = new List<string> { "--no-password", "--snapshot=" + snapshotId, "-F", "d", "-j", options.Jobs.ToString(), "-Z", PgDumpCompression(options, pgDumpVersion), "-f", folder, "-d", connection.ToLibpqDatabaseArgument() };
        context.Log($"Running {pgDump} {string.Join(' ', args)}");
        await using (var dump = PgToolProcess.Start(pgDump, connection, args, redirectStdout: false))
            await dump.WaitForSuccessAsync(ct).ConfigureAwait(false);

        meter.Status = "checksums";
        var files = new List<PgBackupFile>();
        foreach (var path in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            await using var hashing = new HashingStream(File.OpenRead(path));
            await hashing.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
            meter.Add(hashing.Length);
            string name = dirName + "/" + Path.GetRelativePath(folder, path).Replace(Path.DirectorySeparatorChar, '/');
            files.Add(new PgBackupFile { Name = name, Bytes = hashing.Length, Sha256 = hashing.Sha256Hex, StoredBytes = hashing.Length, StoredSha256 = hashing.Sha256Hex, Encoding = CompressionKind.None });
        }
        return files;
    }
}
