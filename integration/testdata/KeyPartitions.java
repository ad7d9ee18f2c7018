import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;

/**
 * Prints, for each key read from standard input (one a line, UTF-8), the
 * partition Kafka's Java producer puts a record with that key on, among as
 * many partitions as the first argument says: "partition key" a line.
 * BuiltInPartitioner.partitionForKey is what KafkaProducer calls for a keyed
 * record (toPositive(murmur2(key)) % partitions).
 *
 *   java -cp 'KAFKA/libs/*' KeyPartitions.java 6 < keys
 */
public class KeyPartitions {
  public static void main(String[] args) throws IOException {
    int partitions = Integer.parseInt(args[0]);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    StringBuilder out = new StringBuilder();
    for (String key; (key = in.readLine()) != null; ) {
      byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
      out.append(BuiltInPartitioner.partitionForKey(bytes, partitions)).append(' ').append(key).append('\n');
    }
    System.out.print(out);
  }
}
