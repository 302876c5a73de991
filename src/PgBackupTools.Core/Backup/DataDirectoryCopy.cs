using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// Writes a running cluster's data directory as a tar, between pg_backup_start and pg_backup_stop, the way BASE_BACKUP
/// does: each file as it is at the moment it is read (torn pages are repaired by replaying the backup's WAL, which
/// starts with full-page images), a file dropped meanwhile left out, one that shrank padded with zeros to the size its
/// header announced (WAL replay truncates it again). Every file's SHA-256 goes into a PostgreSQL backup_manifest that
/// closes the tar, after the backup_label that pg_backup_stop returned.
/// </summary>
/// With <see cref="PageCheck"/> (data checksums on), every page of every relation file is verified as it passes,
/// as BASE_BACKUP does: pages changed after the backup started (their LSN past its start) and new pages are skipped,
/// a mismatch is read again once (a write in progress), and a page that still fails fails the backup.
internal sealed class DataDirectoryCopy(string dataDirectory, Stream tar, ProgressMeter meter, OperationContext context, PageCheck? pageCheck)
{
    private const int ChunkSize = 1 << 20;
    private const int MaxReportedFailures = 10;
    private static readonly System.Text.RegularExpressions.Regex ChecksummedFile = new(@"^(?:global|base/\d+|pg_tblspc/\d+/PG_[^/]+/\d+)/\d+(?:_(?:fsm|vm|init))?(?:\.(\d+))?$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);
    private readonly List<string> _pageFailures = [];
    private readonly BackupManifestBuilder _manifest = new();
    private readonly byte[] _buffer = GC.AllocateUninitializedArray<byte>(ChunkSize);

    public int FilesCopied { get; private set; }
    public int FilesVanished { get; private set; }
    public int FilesShrunk { get; private set; }
    public long PagesVerified { get; private set; }
    public int PageFailures { get; private set; }

    /// <summary>Pages that failed their checksum (the first few: "path block N").</summary>
    public IReadOnlyList<string> PageFailureSamples => _pageFailures;

    public void CopyFiles(IReadOnlyList<DataDirectoryEntry> entries, CancellationToken ct)
    {
        foreach (var entry in entries)
        {
            ct.ThrowIfCancellationRequested();
            string full = Path.Combine(dataDirectory, entry.Path);
            if (entry.IsDirectory) CopyDirectory(entry.Path, full);
            else CopyFile(entry.Path, full);
        }
    }

    /// <summary>A file that exists only in the backup (backup_label, tablespace_map), listed in the manifest like the others.</summary>
    public void AddFile(string path, string content)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(content);
        var now = WriteEntry(path, bytes);
        _manifest.AddFile(path, bytes.Length, now, SHA256.HashData(bytes));
    }

    /// <summary>Closes the tar with the backup_manifest (not listed in itself) and the end-of-archive blocks.</summary>
    public void Finish(uint timeline, string startLsn, string stopLsn)
    {
        WriteEntry("backup_manifest", _manifest.Finish(timeline, startLsn, stopLsn));
        TarHeader.WriteEnd(tar);
    }

    /// <summary>A file made here (not read from the data directory) into the tar, dated now.</summary>
    private DateTimeOffset WriteEntry(string path, byte[] content)
    {
        var now = DateTimeOffset.UtcNow;
        TarHeader.Write(tar, path, false, content.Length, UnixFileMode.UserRead | UnixFileMode.UserWrite, now);
        tar.Write(content);
        TarHeader.WritePadding(tar, content.Length);
        return now;
    }

    private void CopyDirectory(string path, string full)
    {
        UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        DateTimeOffset modified;
        try
        {
            if (!OperatingSystem.IsWindows()) mode = File.GetUnixFileMode(full);
            modified = Directory.GetLastWriteTimeUtc(full);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return; // a database dropped during the backup: its WAL record drops it on replay
        }
        TarHeader.Write(tar, path, true, 0, mode, modified);
    }

    private void VerifyPages(SafeFileHandle handle, string path, long offset, int count, long firstBlock)
    {
        int blockSize = pageCheck!.BlockSize;
        for (int at = 0; at + blockSize <= count; at += blockSize)
        {
            var page = _buffer.AsSpan(at, blockSize);
            uint block = (uint)(firstBlock + (offset + at) / blockSize);
            if (PageIsValid(page, block)) continue;
            // Perhaps a write in progress: one more read of that page decides.
            byte[] again = new byte[blockSize];
            if (RandomAccess.Read(handle, again, offset + at) == blockSize && PageIsValid(again, block)) continue;
            PageFailures++;
            if (_pageFailures.Count < MaxReportedFailures) _pageFailures.Add($"{path} block {(offset + at) / blockSize}");
        }
    }

    private bool PageIsValid(ReadOnlySpan<byte> page, uint block)
    {
        if (PageChecksum.IsNew(page) || PageChecksum.PageLsn(page) >= pageCheck!.StartLsn) return true;
        PagesVerified++;
        return PageChecksum.Compute(page, block) == PageChecksum.Stored(page);
    }

    private void CopyFile(string path, string full)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            FilesVanished++;
            context.Log($"{path} was removed during the backup; left out (as pg_basebackup does).");
            return;
        }
        using (handle)
        {
            long size = RandomAccess.GetLength(handle);
            var modified = new DateTimeOffset(File.GetLastWriteTimeUtc(handle));
            var mode = OperatingSystem.IsWindows() ? UnixFileMode.UserRead | UnixFileMode.UserWrite : File.GetUnixFileMode(handle);
            TarHeader.Write(tar, path, false, size, mode, modified);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var checksummed = pageCheck is null ? null : ChecksummedFile.Match(path);
            long firstBlock = checksummed is { Success: true } && checksummed.Groups[1].Success ? long.Parse(checksummed.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * pageCheck!.SegmentBlocks : 0;
            long offset = 0;
            while (offset < size)
            {
                int n = RandomAccess.Read(handle, _buffer.AsSpan(0, (int)Math.Min(ChunkSize, size - offset)), offset);
                if (n == 0) break;
                if (checksummed is { Success: true }) VerifyPages(handle, path, offset, n, firstBlock);
                hash.AppendData(_buffer, 0, n);
                tar.Write(_buffer, 0, n);
                offset += n;
                meter.Add(n);
            }
            if (offset < size)
            {
                FilesShrunk++;
                context.Log($"{path} shrank from {size:N0} to {offset:N0} bytes during the backup; padded with zeros (WAL replay truncates it).");
                Array.Clear(_buffer);
                for (long left = size - offset; left > 0; left -= ChunkSize)
                {
                    int n = (int)Math.Min(ChunkSize, left);
                    hash.AppendData(_buffer, 0, n);
                    tar.Write(_buffer, 0, n);
                }
            }
            TarHeader.WritePadding(tar, size);
            _manifest.AddFile(path, size, modified, hash.GetHashAndReset());
            FilesCopied++;
        }
    }
}

/// <summary>What verifying data page checksums needs: the page size, the relation segment size in pages, and the
/// backup's start LSN (pages changed after it are rewritten by replay and not checked).</summary>
internal sealed record PageCheck(int BlockSize, long SegmentBlocks, ulong StartLsn);
