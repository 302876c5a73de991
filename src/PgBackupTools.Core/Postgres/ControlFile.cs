using System.Buffers.Binary;
using System.Globalization;

namespace PgBackupTools.Core.Postgres;

/// <summary>global/pg_control of a data directory on this host.</summary>
internal static class ControlFile
{
    public const string RelativePath = "global/pg_control";

    /// <summary>
    /// The cluster's system identifier: ControlFileData starts with it, a uint64 in the server's byte order (this
    /// host's, for a cluster that runs or ran here). Throws IOException or UnauthorizedAccessException when unreadable.
    /// </summary>
    public static string ReadSystemIdentifier(string dataDirectory)
    {
        Span<byte> head = stackalloc byte[8];
        using (var file = File.OpenHandle(Path.Combine(dataDirectory, RelativePath)))
            if (RandomAccess.Read(file, head, 0) != head.Length)
                throw new IOException($"{Path.Combine(dataDirectory, RelativePath)} is shorter than a control file.");
        ulong id = BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt64LittleEndian(head) : BinaryPrimitives.ReadUInt64BigEndian(head);
        return id.ToString(CultureInfo.InvariantCulture);
    }
}
