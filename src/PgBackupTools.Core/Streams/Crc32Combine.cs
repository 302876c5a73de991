namespace PgBackupTools.Core.Streams;

/// <summary>
/// Joins the CRC-32s (gzip polynomial) of two adjacent pieces of data into the CRC-32 of both, without the data:
/// crc(A + B) = crc(A) * x^(8 * |B|) + crc(B) over GF(2). The same arithmetic as zlib's crc32_combine.
/// </summary>
internal static class Crc32Combine
{
    private const uint Polynomial = 0xEDB88320; // reflected

    // X2N[k] = x^(2^k) mod P, so x^(8n) is a product of at most 64 table entries.
    private static readonly uint[] X2N = BuildPowersOfTwo();

    public static uint Combine(uint crcFirst, uint crcSecond, long lengthOfSecond)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lengthOfSecond);
        return Multiply(XPower8N(lengthOfSecond), crcFirst) ^ crcSecond;
    }

    // a * b mod P, both reflected (bit 31 is x^0).
    private static uint Multiply(uint a, uint b)
    {
        uint m = 1u << 31, product = 0;
        while (true)
        {
            if ((a & m) != 0)
            {
                product ^= b;
                if ((a & (m - 1)) == 0)
                    return product;
            }
            m >>= 1;
            b = (b & 1) != 0 ? (b >> 1) ^ Polynomial : b >> 1;
        }
    }

    // x^(8n) mod P
    private static uint XPower8N(long n)
    {
        uint power = 1u << 31; // x^0
        int k = 3;             // 8n = n * 2^3
        while (n != 0)
        {
            if ((n & 1) != 0)
                power = Multiply(X2N[k & 31], power);
            n >>= 1;
            k++;
        }
        return power;
    }

    private static uint[] BuildPowersOfTwo()
    {
        var table = new uint[32];
        uint p = 1u << 30; // x^1
        table[0] = p;
        for (int i = 1; i < table.Length; i++)
            table[i] = p = Multiply(p, p);
        return table;
    }
}
