import { interruptSuite } from './interrupts.js';

interruptSuite('watch');
