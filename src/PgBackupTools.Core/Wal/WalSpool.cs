using System.Security.Cryptography;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Wal;

/// <summary>
/// The prefetch spool of restore_command (pg_wal/pgbt-prefetch): segments fetched ahead, each written only after it
/// was verified against its archived checksum. A spooled file is served only if, at the time it is asked for, it
/// still hashes to the SHA-256 the archive records for that name — so a damaged, truncated or stale spool file
/// (another repository, a re-initialised archive) is never served: it is deleted and the archive is asked instead.
/// </summary>
internal static class WalSpool
{
    /// <param name="newDigest">The archive's digest (SHA-256, or the HMAC of an encrypted repository).</param>
    public static bool TryServe(string spool, string name, WalObjectHeader archived, string destination, Func<IncrementalHash> newDigest)
    {
        string file = Path.Combine(spool, name);
        try
        {
            if (!File.Exists(file)) return false;
            byte[] sha;
            long length;
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
            {
                length = stream.Length;
                using var digest = newDigest();
                var buffer = new byte[1 << 20];
                int read;
                while ((read = stream.Read(buffer)) > 0) digest.AppendData(buffer, 0, read);
                sha = digest.GetHashAndReset();
            }
            if (length == archived.RawSize && CryptographicOperations.FixedTimeEquals(sha, archived.Digest))
            {
                File.Move(file, destination, overwrite: true);
                return true;
            }
            File.Delete(file);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return false;
    }

    /// <summary>
    /// Removes what is no longer wanted: spooled segments that sort before <paramref name="current"/> (recovery is past
    /// them), leftovers of interrupted fetches, and anything that is not a segment name. restore_command runs one at a
    /// time per cluster, so no other fetch is writing here now.
    /// </summary>
    public static void Clean(string spool, string current)
    {
        if (!Directory.Exists(spool)) return;
        foreach (var path in Directory.EnumerateFiles(spool))
        {
            string name = Path.GetFileName(path);
            bool keep = !name.Contains(FileSystemStore.TempMarker, StringComparison.Ordinal)
                && WalFileName.TryParse(name, out var parsed) && parsed.Kind == WalFileKind.Segment
                && string.CompareOrdinal(name, current) > 0;
            if (keep) continue;
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
