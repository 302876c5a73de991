using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// Writes a file so it either appears whole or not at all: a temp file in the destination
/// directory, fsync, rename over the destination, fsync of the directory (Unix). On any failure
/// the temp file is deleted and the destination is left untouched.
/// </summary>
internal static class AtomicFileWriter
{
    /// <param name="destinationPath">The file to create or replace.</param>
    /// <param name="overwrite">Replace an existing destination; otherwise an existing one is an error.</param>
    /// <param name="write">Writes the content into the temp file stream (and must not dispose it).</param>
    /// <param name="worldReadable">Unix: mode 0644 instead of 0600 (for files other users read, such as metrics).</param>
    public static void Write(string destinationPath, bool overwrite, Action<FileStream> write, bool worldReadable = false)
    {
        string destination = Path.GetFullPath(destinationPath);
        string directory = Path.GetDirectoryName(destination)
            ?? throw new ArgumentException($"The destination {destination} has no directory.", nameof(destinationPath));
        if (!overwrite && File.Exists(destination))
            throw new IOException($"The destination {destination} already exists. Choose another path or allow overwriting it.");
        if (Directory.Exists(destination))
            throw new IOException($"The destination {destination} is a directory.");

        string temp = Path.Combine(directory, $".{Path.GetFileName(destination)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = 0, // callers write whole chunks
        };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite
                | (worldReadable ? UnixFileMode.GroupRead | UnixFileMode.OtherRead : UnixFileMode.None);

        bool renamed = false;
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, destination, overwrite);
            renamed = true;
            FileSync.SyncDirectory(directory);
        }
        finally
        {
            if (!renamed) TryDelete(temp);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
