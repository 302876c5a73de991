namespace PgBackupTools.Core.Tests.Streams;

/// <summary>The plainest CRC-32 (gzip polynomial), bit by bit: slow, obviously right.</summary>
internal static class Crc32Reference
{
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int bit = 0; bit < 8; bit++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}
